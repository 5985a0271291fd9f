using Xunit.Abstractions;
using System.Globalization;
using System.Text;

namespace KarteMarketo.IntegrationTests.Cluster.Reliability;

/// <summary>One row of the reliability summary.</summary>
public sealed record SummaryRow(string Fault, int Requests, int Accepted, int Delivered, int Duplicates, int Breaches, string Recovery, string Notes = "")
{
    /// <summary>Requests to hosts that stayed up which were not accepted (host kills only).</summary>
    public string SurvivorFailures { get; init; } = "–";

    /// <summary>Identify → synced p99: in the steady state, and of the identifies accepted around a fault (host kills only).</summary>
    public string SyncP99 { get; init; } = "–";
}

/// <summary>
/// The table the reliability tests print (test output) and write to <c>TestResults/reliability-summary.md</c> at the
/// repository root (or the current directory when the tests run outside a checkout). Rows of every test of the run
/// are kept, so the file holds the whole table after the last one.
/// </summary>
public static class ReliabilitySummary
{
    private static readonly Lock Gate = new();
    private static readonly List<SummaryRow> Rows = [];

    public static string Add(IEnumerable<SummaryRow> rows, ITestOutputHelper output)
    {
        string table;
        lock (Gate)
        {
            foreach (var row in rows)
            {
                Rows.RemoveAll(r => r.Fault == row.Fault);
                Rows.Add(row);
            }
            table = Render(Rows);
            var folder = ResultsFolder();
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "reliability-summary.md"), table);
        }
        output.WriteLine(table);
        return table;
    }

    public static string Render(IEnumerable<SummaryRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| fault | requests | accepted | delivered | duplicates | breaches | failures on survivors | identify → synced p99 (steady / across the fault) | recovery | notes |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|---|---|");
        foreach (var r in rows)
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Fault} | {r.Requests} | {r.Accepted} | {r.Delivered} | {r.Duplicates} | {r.Breaches} | {r.SurvivorFailures} | {r.SyncP99} | {r.Recovery} | {r.Notes} |");
        return text.ToString();
    }

    /// <summary><c>TestResults</c> at the repository root, else under the current directory.</summary>
    public static string ResultsFolder() => Path.Combine(RepositoryRoot() ?? Environment.CurrentDirectory, "TestResults");

    public static string Seconds(TimeSpan? span) => span is { } s ? $"{s.TotalSeconds:0} s" : "n/a";

    private static string? RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "KarteMarketo.sln"))) return dir.FullName;
        }
        return null;
    }
}
