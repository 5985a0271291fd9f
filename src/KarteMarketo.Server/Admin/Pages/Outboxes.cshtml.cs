using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Outbox;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Mvc;
using Orleans;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}/outboxes</c>: the custom activity, lead upsert and KARTE write outboxes, counts by
/// status, failed rows with Marketo's answer, retry one or all (the same <see cref="OutboxRetry"/> as the API), and whether
/// KARTE writes are paused (the same dispatcher status as <c>GET …/karte-writes</c>).</summary>
public sealed class OutboxesModel(OutboxIntake outboxes, OutboxRetry retry, IProjectDirectory directory, IGrainFactory grains) : ConsolePage
{
    /// <summary>Rows shown per outbox and status.</summary>
    public const int RowsShown = 100;

    public sealed record Box(string Kind, string Title, IReadOnlyList<(string Status, long Count)> Counts,
        IReadOnlyList<OutboxRow> Rows, IReadOnlyList<OutboxRow> Failed);

    public List<Box> Boxes { get; } = [];
    public int? Retried { get; private set; }

    /// <summary>Set while KARTE refuses the project's app token: its writes wait, nothing is lost.</summary>
    public KarteDispatcherStatus? KartePause { get; private set; }

    public async Task<IActionResult> OnGetAsync(string project, CancellationToken cancellationToken)
    {
        if (!await EnterAsync(project, cancellationToken)) return NotFound();
        await LoadAsync(project, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostRetryAsync(string project, string kind, long id, CancellationToken cancellationToken)
    {
        if (!await EnterAsync(project, cancellationToken) || KindOf(kind) is not { } k) return NotFound();
        Retried = await retry.RetryAsync(project, k, [id], cancellationToken);
        await LoadAsync(project, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostRetryAllAsync(string project, string kind, CancellationToken cancellationToken)
    {
        if (!await EnterAsync(project, cancellationToken) || KindOf(kind) is not { } k) return NotFound();
        Retried = await retry.RetryAsync(project, k, null, cancellationToken);
        await LoadAsync(project, cancellationToken);
        return Page();
    }

    private async Task<bool> EnterAsync(string project, CancellationToken cancellationToken)
    {
        Title = "Outboxes";
        if (!ProjectKeys.IsValidProjectId(project)) return false;
        ProjectId = project;
        return await directory.GetAsync(project, cancellationToken) is not null;
    }

    private async Task LoadAsync(string project, CancellationToken cancellationToken)
    {
        foreach (var (kind, title) in new[] { (OutboxKind.Activities, "Custom activities"), (OutboxKind.Leads, "Lead upserts"), (OutboxKind.Karte, "KARTE writes") })
        {
            var rows = await outboxes.ListAsync(project, kind, null, RowsShown, cancellationToken);
            var failed = await outboxes.ListAsync(project, kind, [OutboxStatus.Failed], RowsShown, cancellationToken);
            var byStatus = await outboxes.CountByStatusAsync(project, kind, cancellationToken);
            var counts = OutboxStatus.All.Order(StringComparer.Ordinal)
                .Select(s => (s, byStatus.TryGetValue(s, out var n) ? n : 0L)).ToList();
            Boxes.Add(new Box(kind.ToKeyword(), title, counts, rows, failed));
        }
        var karte = await grains.GetGrain<IKarteWriteDispatcherGrain>(GrainKeys.KarteWriteDispatcher(project)).GetKarteStatusAsync();
        KartePause = karte.Paused ? karte : null;
    }

    private static OutboxKind? KindOf(string kind) => kind switch
    {
        "activities" => OutboxKind.Activities,
        "leads" => OutboxKind.Leads,
        "karte" => OutboxKind.Karte,
        _ => null,
    };
}
