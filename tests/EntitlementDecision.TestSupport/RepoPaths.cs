namespace EntitlementDecision.TestSupport;

/// <summary>Locates the repository from the test binaries (bin/...): the folder holding EntitlementDecision.sln.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>Absolute path of the repository root.</summary>
    public static string Root => LazyRoot.Value;

    /// <summary>Absolute path of testdata/stripe.</summary>
    public static string StripeTestData => Path.Combine(Root, "testdata", "stripe");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EntitlementDecision.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"No folder containing EntitlementDecision.sln above {AppContext.BaseDirectory}; run the tests from inside the repository.");
    }
}
