using System.Globalization;
using System.Text;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Quota;

namespace KarteMarketo.Server.Admin;

/// <summary>
/// The Marketo day as inline SVG, drawn on the server (no script): the day's cumulative calls against the limit and the
/// budget (limit less the reserve), the forecast at the current pace as a dashed line, 606/615/607 marked where they
/// happened; and below it the calls of each Central hour, stacked by purpose.
/// </summary>
public static class QuotaChart
{
    public static readonly string[] Purposes = ["realtime", "periodic", "activities", "leads", "other"];
    public static readonly string[] Colors = ["#3b6fd8", "#2b9d6e", "#d98b1f", "#9a4fc4", "#7a8494"];

    private const int Width = 960, Height = 300, Left = 64, Right = 16, Top = 16, Bottom = 36;

    public static string Day(QuotaSnapshot s)
    {
        var start = MarketoDay.StartOf(s.Day);
        var end = s.ResetsAt;
        var span = (end - start).TotalSeconds;
        var forecastEnd = s.Forecast.ExhaustedAt ?? end;
        var forecastCalls = s.Forecast.ExhaustedAt is null ? s.Forecast.CallsAtDayEnd : s.Budget;
        var top = Math.Max(10, new[] { s.Limit, s.Used, forecastCalls }.Max()) * 1.08;
        double X(DateTimeOffset t) => Left + Math.Clamp((t - start).TotalSeconds / span, 0, 1) * (Width - Left - Right);
        double Y(double calls) => Top + (1 - calls / top) * (Height - Top - Bottom);

        var svg = new StringBuilder();
        svg.Append(Inv($"<svg id=\"quota-day-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"Marketo calls over the Central-time day\">"));
        svg.Append(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"#fff\" stroke=\"#cfd5df\"/>"));
        HourTicks(svg, start, X);
        Line(svg, "limit", Y(s.Limit), $"limit {s.Limit:N0}", "#b00020", dashed: false);
        Line(svg, "budget", Y(s.Budget), $"budget {s.Budget:N0} (reserve {s.ReservePercent}%)", "#d98b1f", dashed: false);

        // The day so far, from the hourly counts: a step up at the end of each hour, to now.
        var points = new List<(double X, double Y)> { (X(start), Y(0)) };
        var running = 0;
        var nowHour = HourIndex(s.At, start);
        for (var h = 0; h <= Math.Min(23, nowHour); h++)
        {
            for (var q = 0; q < Purposes.Length; q++) running += s.HourlyByPurpose[h * Purposes.Length + q];
            var at = h == nowHour ? s.At : start.AddHours(h + 1);
            points.Add((X(at), Y(running)));
        }
        // Our count may have been raised to Marketo's own (other integrations): the line ends at the day's count.
        points[^1] = (X(s.At), Y(s.Used));
        svg.Append("<polyline id=\"quota-used\" fill=\"none\" stroke=\"#20304f\" stroke-width=\"2.5\" points=\"");
        foreach (var (x, y) in points) svg.Append(Inv($"{x:0.0},{y:0.0} "));
        svg.Append("\"/>");

        svg.Append(Inv($"<line id=\"quota-forecast\" x1=\"{X(s.At):0.0}\" y1=\"{Y(s.Used):0.0}\" x2=\"{X(forecastEnd):0.0}\" y2=\"{Y(forecastCalls):0.0}\" stroke=\"#20304f\" stroke-width=\"2\" stroke-dasharray=\"6 5\"/>"));
        if (s.Forecast.ExhaustedAt is { } exhausted)
            svg.Append(Inv($"<circle id=\"quota-exhausted\" cx=\"{X(exhausted):0.0}\" cy=\"{Y(s.Budget):0.0}\" r=\"5\" fill=\"#b00020\"/>"));

        foreach (var mark in s.Throttles)
        {
            var x = X(mark.At);
            var color = mark.Code == "607" ? "#b00020" : "#d98b1f";
            svg.Append(Inv($"<g class=\"throttle\" data-code=\"{mark.Code}\"><line x1=\"{x:0.0}\" y1=\"{Top}\" x2=\"{x:0.0}\" y2=\"{Height - Bottom}\" stroke=\"{color}\" stroke-width=\"1\"/>"));
            svg.Append(Inv($"<text x=\"{x + 2:0.0}\" y=\"{Top + 12}\" font-size=\"11\" fill=\"{color}\">{mark.Code}</text></g>"));
        }
        svg.Append(Inv($"<text x=\"4\" y=\"{Y(0):0}\" font-size=\"11\" fill=\"#5b6474\">0</text>"));
        svg.Append("</svg>");
        return svg.ToString();
    }

    public static string Hours(QuotaSnapshot s)
    {
        const int height = 200;
        var start = MarketoDay.StartOf(s.Day);
        var max = 1;
        for (var h = 0; h < 24; h++)
            max = Math.Max(max, Enumerable.Range(0, Purposes.Length).Sum(q => s.HourlyByPurpose[h * Purposes.Length + q]));
        var slot = (Width - Left - Right) / 24.0;
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg id=\"quota-hours-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {height}\" width=\"{Width}\" height=\"{height}\" role=\"img\" aria-label=\"Marketo calls per Central hour by purpose\">"));
        svg.Append(Inv($"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{height - Top - Bottom}\" fill=\"#fff\" stroke=\"#cfd5df\"/>"));
        for (var h = 0; h < 24; h++)
        {
            var y = (double)(height - Bottom);
            for (var q = 0; q < Purposes.Length; q++)
            {
                var n = s.HourlyByPurpose[h * Purposes.Length + q];
                if (n == 0) continue;
                var bar = (double)n / max * (height - Top - Bottom);
                y -= bar;
                svg.Append(Inv($"<rect class=\"hour-bar\" data-hour=\"{h}\" data-purpose=\"{Purposes[q]}\" data-calls=\"{n}\" x=\"{Left + h * slot + 2:0.0}\" y=\"{y:0.0}\" width=\"{slot - 4:0.0}\" height=\"{bar:0.0}\" fill=\"{Colors[q]}\"><title>{h:00}:00 {Purposes[q]} {n}</title></rect>"));
            }
            if (h % 3 == 0)
                svg.Append(Inv($"<text x=\"{Left + h * slot + 2:0.0}\" y=\"{height - Bottom + 14}\" font-size=\"11\" fill=\"#5b6474\">{h:00}:00</text>"));
        }
        svg.Append(Inv($"<text x=\"4\" y=\"{Top + 10}\" font-size=\"11\" fill=\"#5b6474\">{max}</text>"));
        svg.Append("</svg>");
        return svg.ToString();
    }

    private static int HourIndex(DateTimeOffset at, DateTimeOffset start) => Math.Clamp((int)Math.Floor((at - start).TotalHours), 0, 23);

    private static void HourTicks(StringBuilder svg, DateTimeOffset start, Func<DateTimeOffset, double> x)
    {
        for (var h = 0; h <= 24; h += 3)
        {
            var px = x(start.AddHours(h));
            svg.Append(Inv($"<line x1=\"{px:0.0}\" y1=\"{Top}\" x2=\"{px:0.0}\" y2=\"{Height - Bottom}\" stroke=\"#eef1f5\"/>"));
            svg.Append(Inv($"<text x=\"{px - 14:0.0}\" y=\"{Height - Bottom + 16}\" font-size=\"11\" fill=\"#5b6474\">{h:00}:00</text>"));
        }
        svg.Append(Inv($"<text x=\"{Width - Right - 110}\" y=\"{Height - 4}\" font-size=\"11\" fill=\"#5b6474\">US Central time</text>"));
    }

    private static void Line(StringBuilder svg, string id, double y, string label, string color, bool dashed)
    {
        svg.Append(Inv($"<line id=\"quota-{id}\" x1=\"{Left}\" y1=\"{y:0.0}\" x2=\"{Width - Right}\" y2=\"{y:0.0}\" stroke=\"{color}\" stroke-width=\"1.5\"{(dashed ? " stroke-dasharray=\"4 4\"" : "")}/>"));
        svg.Append(Inv($"<text x=\"{Left + 4}\" y=\"{y - 4:0.0}\" font-size=\"11\" fill=\"{color}\">{System.Net.WebUtility.HtmlEncode(label)}</text>"));
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
