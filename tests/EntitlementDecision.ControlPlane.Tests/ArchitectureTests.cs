using System.Reflection;
using EntitlementDecision.ControlPlane.Data;
using NetArchTest.Rules;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// The control plane's folder rules (README "Layout"), read from the compiled assembly's IL by NetArchTest: Hosting composes and
/// nothing depends on it, no feature uses another feature's endpoint class, and the folders (namespaces) form no cycle.
/// </summary>
public sealed class ArchitectureTests
{
    private const string Root = "EntitlementDecision.ControlPlane";
    private static readonly Assembly ControlPlane = typeof(EntitlementsDbContext).Assembly;

    /// <summary>Top-level types of the control plane by folder (namespace below <see cref="Root"/>, e.g. "Admin.Tenants").</summary>
    private static readonly Dictionary<string, string[]> TypesByFolder = ControlPlane.GetTypes()
        .Where(t => !t.IsNested && t.Namespace is { } ns && ns.StartsWith(Root + ".", StringComparison.Ordinal) && !ns.StartsWith(Root + ".Tests", StringComparison.Ordinal))
        .GroupBy(t => t.Namespace![(Root.Length + 1)..])
        .ToDictionary(g => g.Key, g => g.Select(t => t.FullName!).Order(StringComparer.Ordinal).ToArray());

    /// <summary>Folder -> the other folders its types depend on (IL references: calls, fields, signatures, attributes).</summary>
    private static readonly Lazy<Dictionary<string, SortedSet<string>>> Graph = new(() =>
        TypesByFolder.Keys.ToDictionary(from => from, from => new SortedSet<string>(
            TypesByFolder.Where(to => to.Key != from && InFolder(from).And().HaveDependencyOnAny(to.Value).GetTypes().Any()).Select(to => to.Key),
            StringComparer.Ordinal)));

    private static PredicateList InFolder(string folder) =>
        Types.InAssembly(ControlPlane).That().ResideInNamespaceMatching($"^{System.Text.RegularExpressions.Regex.Escape(Root + "." + folder)}$");

    private static string Top(string folder) => folder.Split('.')[0];

    [Fact]
    public void Folders_AreFound()
    {
        // Guards the rules below against an empty scan (a renamed root namespace would make every rule pass vacuously).
        Assert.Contains("Hosting", TypesByFolder.Keys);
        Assert.Contains("Subscriptions", TypesByFolder.Keys);
        Assert.True(TypesByFolder.Count >= 15, string.Join(", ", TypesByFolder.Keys));
    }

    [Fact]
    public void NothingOutsideHosting_DependsOnHosting()
    {
        // Program.cs (top-level statements, no namespace) is the one composer outside the folder.
        var offenders = Graph.Value.Where(e => Top(e.Key) != "Hosting" && e.Value.Any(to => Top(to) == "Hosting")).Select(e => e.Key).ToList();
        Assert.True(offenders.Count == 0, "depend on Hosting: " + string.Join(", ", offenders.Select(f => f + " (" + string.Join(", ",
            InFolder(f).And().HaveDependencyOnAny(TypesByFolder.Where(h => Top(h.Key) == "Hosting").SelectMany(h => h.Value).ToArray()).GetTypes().Select(t => t.Name)) + ")")));
    }

    [Fact]
    public void NoFeature_UsesAnotherFeaturesEndpointClass()
    {
        // Endpoint classes (name ends in Endpoints or Pages) map routes; shared logic lives in a service class of the feature or in
        // Http/. Hosting maps them all; inside a feature only its non-endpoint types may use them (no endpoint class is a library).
        var endpointClasses = ControlPlane.GetTypes().Where(t => !t.IsNested && IsEndpointClass(t.Name) && t.Namespace?.StartsWith(Root + ".", StringComparison.Ordinal) == true).ToList();
        var offences = new List<string>();
        foreach (var target in endpointClasses)
        {
            var users = Types.InAssembly(ControlPlane).That().HaveDependencyOn(target.FullName!).GetTypes()
                .Select(Outermost)
                .Where(user => user != target && user.Namespace is { } ns && ns.StartsWith(Root + ".", StringComparison.Ordinal))
                .Where(user => Top(Folder(user)) != "Hosting" && (Top(Folder(user)) != Top(Folder(target)) || IsEndpointClass(user.Name)))
                .Select(user => $"{Folder(user)}.{user.Name} -> {Folder(target)}.{target.Name}");
            offences.AddRange(users);
        }
        Assert.True(offences.Count == 0, string.Join("\n", offences.Distinct()));
    }

    private static bool IsEndpointClass(string name) => name.EndsWith("Endpoints", StringComparison.Ordinal) || name.EndsWith("Pages", StringComparison.Ordinal);

    private static Type Outermost(Type t) => t.DeclaringType is { } d ? Outermost(d) : t;

    private static string Folder(Type t) => t.Namespace![(Root.Length + 1)..];

    [Fact]
    public void Folders_FormNoCycle()
    {
        var cycle = FindCycle(Graph.Value);
        Assert.True(cycle is null, "folder cycle: " + string.Join(" -> ", cycle ?? []) + "\ngraph:\n" + Describe(Graph.Value));
    }

    [Fact]
    public void FindCycle_ReportsAPlantedCycle()
    {
        // The checker itself: a back edge is found and printed as a closed path; a DAG yields none.
        var dag = new Dictionary<string, SortedSet<string>> { ["A"] = ["B", "C"], ["B"] = ["C"], ["C"] = [] };
        Assert.Null(FindCycle(dag));
        dag["C"].Add("A");
        Assert.Equal(["A", "B", "C", "A"], FindCycle(dag));
    }

    /// <summary>A cycle as a closed path (first = last), or null: depth-first search in ordinal order, so the report is stable.</summary>
    internal static List<string>? FindCycle(Dictionary<string, SortedSet<string>> graph)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the current path, 2 = done
        var path = new List<string>();
        List<string>? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    return [.. path[path.IndexOf(next)..], next];
                }
                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found)
                {
                    return found;
                }
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        return graph.Keys.Order(StringComparer.Ordinal).Where(n => state.GetValueOrDefault(n) == 0).Select(Visit).FirstOrDefault(c => c is not null);
    }

    private static string Describe(Dictionary<string, SortedSet<string>> graph) =>
        string.Join("\n", graph.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"  {e.Key} -> {string.Join(", ", e.Value)}"));
}
