using System.Text.Json;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using KarteMarketo.Grains.Projects;
using KarteMarketo.Server.Apis;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Orleans;

namespace KarteMarketo.Server.Admin.Pages;

/// <summary><c>/admin/projects/{projectId}/status</c>: lookup results counted by result and the last errors (as
/// <c>GET …/sync</c> answers them: the same <see cref="SyncStatusService"/>), segment counts, and a user looked up by
/// user id or email, shown as <c>GET …/users/{userId}</c> answers (the same handler builds it).</summary>
public sealed class StatusModel(IGrainFactory grains, UserInfoService users, IProjectDirectory directory, SyncStatusService status) : ConsolePage
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>At most this many users of one email are shown.</summary>
    public const int MaxUsersShown = 20;

    public long LeadSynced { get; private set; }
    public long CookieSynced { get; private set; }
    public string? Query { get; private set; }
    public SyncStatusView? Sync { get; private set; }
    public List<UsersApi.UserInfoResponse> Users { get; } = [];

    public async Task<IActionResult> OnGetAsync(string project, string? user, CancellationToken cancellationToken)
    {
        Title = "Sync status";
        if (!ProjectKeys.IsValidProjectId(project)) return NotFound();
        ProjectId = project;
        if (await directory.GetAsync(project, cancellationToken) is null) return NotFound();

        Sync = await status.GetAsync(project);
        LeadSynced = (await users.GetSegmentAsync(project, UserSegment.MarketoLeadSynced, 1, null, cancellationToken)).Count;
        CookieSynced = (await users.GetSegmentAsync(project, UserSegment.MarketoCookieSynced, 1, null, cancellationToken)).Count;

        Query = string.IsNullOrWhiteSpace(user) ? null : user.Trim();
        if (Query is null) return Page();
        var candidates = new List<string> { Query };
        if (Query.Contains('@') && LeadKeyPolicy.TryNormalizeEmail(Query, out var email, out _))
        {
            var key = await grains.GetGrain<ILeadKeyGrain>(GrainKeys.LeadKey(project, LeadKeyType.Email, email)).GetAsync();
            candidates.AddRange(key.LinkedUsers.Take(MaxUsersShown));
        }
        foreach (var id in candidates.Distinct(StringComparer.Ordinal))
        {
            if (await UsersApi.GetUserAsync(project, id, users, cancellationToken) is { Result: Ok<UsersApi.UserInfoResponse> ok })
                Users.Add(ok.Value!);
        }
        return Page();
    }
}
