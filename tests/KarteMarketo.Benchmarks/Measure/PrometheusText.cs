using System.Globalization;

namespace KarteMarketo.Benchmarks;

/// <summary>A parsed <c>/metrics</c> scrape (Prometheus text format): samples by name with their labels.</summary>
internal sealed class PrometheusText
{
    private readonly List<(string Name, string Labels, double Value)> _samples;

    private PrometheusText(List<(string, string, double)> samples) => _samples = samples;

    public static PrometheusText Parse(string text)
    {
        var samples = new List<(string, string, double)>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var brace = line.IndexOf('{');
            var space = line.IndexOf(' ');
            string name, labels, rest;
            if (brace >= 0 && (space < 0 || brace < space))
            {
                var close = line.LastIndexOf('}');
                if (close < 0) continue;
                name = line[..brace];
                labels = line[(brace + 1)..close];
                rest = line[(close + 1)..].Trim();
            }
            else
            {
                if (space < 0) continue;
                name = line[..space];
                labels = "";
                rest = line[(space + 1)..].Trim();
            }
            var valueText = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (valueText is not null && double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                samples.Add((name, labels, value));
        }
        return new PrometheusText(samples);
    }

    /// <summary>The sum of the samples named <paramref name="name"/> whose labels contain <paramref name="labelContains"/>
    /// (e.g. <c>gc_heap_generation="gen2"</c>); null when there is none.</summary>
    public double? Sum(string name, string? labelContains = null)
    {
        var matches = _samples.Where(s => s.Name == name && (labelContains is null || s.Labels.Contains(labelContains, StringComparison.Ordinal))).ToList();
        return matches.Count == 0 ? null : matches.Sum(s => s.Value);
    }

    /// <summary>The first of several candidate names that exists (exporters differ in unit suffixes).</summary>
    public double? First(params string[] names)
    {
        foreach (var name in names)
        {
            if (Sum(name) is { } value) return value;
        }
        return null;
    }

    /// <summary>Every sample whose name starts with <paramref name="prefix"/>, for the results file.</summary>
    public Dictionary<string, double> WithPrefix(string prefix) =>
        _samples.Where(s => s.Name.StartsWith(prefix, StringComparison.Ordinal))
            .GroupBy(s => s.Labels.Length == 0 ? s.Name : $"{s.Name}{{{s.Labels}}}")
            .ToDictionary(g => g.Key, g => g.Last().Value);
}
