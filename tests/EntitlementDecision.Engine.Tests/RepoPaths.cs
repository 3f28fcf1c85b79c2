namespace EntitlementDecision.Engine.Tests;

/// <summary>Locates the repository from the test binaries: the first folder above them holding EntitlementDecision.sln.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    public static string Root => LazyRoot.Value;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EntitlementDecision.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No folder containing EntitlementDecision.sln above {AppContext.BaseDirectory}; run the tests from inside the repository.");
    }
}
