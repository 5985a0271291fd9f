using System.Buffers.Text;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace KarteMarketo.Server.Apis;

public static class UsersApi
{
    public const int DefaultSegmentLimit = 100;
    public const int MaxSegmentLimit = 1_000;

    /// <summary>Endpoints: user info, user events, segments.</summary>
    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects/{projectId}").RequireAdminKey().WithTags("Users");
        group.MapGet("/users/{userId}", GetUserAsync)
            .WithSummary("What the sync produced for a user: identify (Marketo lead fields, mapped fields, marketo_hash) and the sync block.");
        group.MapGet("/segments/{segment}", GetSegmentAsync)
            .WithSummary("Users of marketo-lead-synced or marketo-cookie-synced, with count and cursor paging.");
        return app;
    }

    /// <summary>The user info document (API.md, "User info").</summary>
    public sealed record UserInfoResponse(string UserId, JsonObject Identify, SyncBlock Sync);

    /// <summary><c>sync</c>: the key the user's sync state comes from, its window and last outcome, and how the lead
    /// in <c>identify.marketo</c> was found. <c>LinksDropped</c>: users the key let go because more than 100 linked to
    /// it (the oldest first); null while none were.</summary>
    public sealed record SyncBlock(string? Key, DateTimeOffset? LastRequestAt, DateTimeOffset? NextEligibleAt,
        string? LastResult, string? LastError, string? SyncedBy,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
        int? LinksDropped = null);

    public sealed record SegmentResponse(string Segment, long Count, IReadOnlyList<string> Users, string? Next);

    internal static async Task<Results<Ok<UserInfoResponse>, ProblemHttpResult>> GetUserAsync(
        string projectId, string userId, UserInfoService users, CancellationToken cancellationToken)
    {
        // Routing leaves an encoded slash encoded; user ids may contain one.
        userId = userId.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        if (await users.GetAsync(projectId, userId, cancellationToken) is not { } info)
            return Problems.NotFound($"User '{userId}' has not been seen in project '{projectId}'.");
        var stored = info.Stored;

        var identify = stored.IdentifyJson is null ? new JsonObject() : JsonNode.Parse(stored.IdentifyJson)!.AsObject();
        var sync = info is { Key: { } key, KeyView: { } view }
            ? new SyncBlock(key.Type.ToKeyword(), view.LastRequestAt, view.NextEligibleAt, ResultName(view.LastResult),
                view.LastError, stored.SyncedBy?.ToKeyword(), view.DroppedLinks > 0 ? view.DroppedLinks : null)
            : new SyncBlock(null, null, null, null, null, stored.SyncedBy?.ToKeyword());
        return TypedResults.Ok(new UserInfoResponse(userId, identify, sync));
    }

    internal static async Task<Results<Ok<SegmentResponse>, ProblemHttpResult>> GetSegmentAsync(
        string projectId, string segment, int? limit, string? after, UserInfoService users,
        CancellationToken cancellationToken)
    {
        UserSegment? which = segment switch
        {
            "marketo-lead-synced" => UserSegment.MarketoLeadSynced,
            "marketo-cookie-synced" => UserSegment.MarketoCookieSynced,
            _ => null,
        };
        if (which is null) return Problems.NotFound($"There is no segment '{segment}' (marketo-lead-synced, marketo-cookie-synced).");

        var errors = new ValidationErrors();
        var pageSize = limit ?? DefaultSegmentLimit;
        if (pageSize is < 1 or > MaxSegmentLimit) errors.Add("limit", $"must be 1 to {MaxSegmentLimit}");
        string? afterUser = null;
        if (after is not null && !TryDecodeCursor(after, out afterUser)) errors.Add("after", "is not a cursor from a previous page");
        if (errors.HasErrors) return Problems.Validation(errors);

        var page = await users.GetSegmentAsync(projectId, which.Value, pageSize, afterUser, cancellationToken);
        return TypedResults.Ok(new SegmentResponse(segment, page.Count, page.Users, page.Next is null ? null : EncodeCursor(page.Next)));
    }

    /// <summary>Cursors are opaque to clients: the last user id of the page, base64url-encoded.</summary>
    internal static string EncodeCursor(string userId) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(userId));

    internal static bool TryDecodeCursor(string cursor, out string? userId)
    {
        userId = null;
        try
        {
            userId = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            return userId.Length > 0;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    internal static string? ResultName(SyncResult? result) => result is { } r && Enum.IsDefined(r) ? r.ToKeyword() : null;
}
