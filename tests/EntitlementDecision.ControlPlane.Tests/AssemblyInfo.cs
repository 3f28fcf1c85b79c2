// WebApplicationFactory<Program> finds the host of a top-level-statements Program through a process-wide DiagnosticListener;
// hosts built concurrently by several factories can be picked up by the wrong one. Test classes therefore run one at a time
// (each class still has its own host and database).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
