using KarteMarketo.Contracts;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans;

namespace KarteMarketo.Server.Apis;

public static class QuotaApi
{
    /// <summary>Endpoint: <c>GET /v1/projects/{projectId}/quota</c> (admin), the day's Marketo budget of the
    /// project's instance (shared with every project on the same instance).</summary>
    public static IEndpointRouteBuilder MapQuotaApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/projects/{projectId}").RequireAdminKey().WithTags("Operations");
        group.MapGet("/quota", GetQuotaAsync)
            .WithSummary("The day's Marketo calls of the project's instance: used, limit, remaining after the reserve, by purpose.");
        return app;
    }

    internal static async Task<Results<Ok<QuotaResponse>, ProblemHttpResult>> GetQuotaAsync(
        string projectId, IProjectDirectory directory, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var record = await directory.GetAsync(projectId, cancellationToken);
        if (record is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Project not found",
                detail: $"There is no project '{projectId}'.");
        }

        var settings = record.Settings;
        var snapshot = await grains.GetGrain<IMarketoQuotaGrain>(GrainKeys.Quota(settings.Marketo.InstanceId))
            .GetSnapshotAsync(settings.Quota);
        return TypedResults.Ok(QuotaResponse.From(snapshot));
    }
}

/// <summary>The body of <c>GET …/quota</c> (API.md, "Operations").</summary>
/// <param name="Instance">The Marketo instance (munchkin id, or host:port for other endpoints).</param>
/// <param name="Day">Marketo's day (<c>yyyy-MM-dd</c>), which ends at midnight US Central time.</param>
/// <param name="Used">Calls counted today: ours, raised to Marketo's own count where that is higher.</param>
/// <param name="Limit">The daily limit (the strictest of the projects on the instance).</param>
/// <param name="Remaining">Calls left today, the reserve for other integrations already set aside.</param>
/// <param name="ResetsAt">The next Central midnight, with its offset.</param>
/// <param name="ByPurpose">Our calls today by purpose: realtime, periodic, activities, leads, other.</param>
/// <param name="Throttled">Permits denied today.</param>
/// <param name="Forecast">At the current pace (the last hour's calls): when the budget runs out (null: not before the
/// reset) and the calls counted at the day's end (at most the budget).</param>
public sealed record QuotaResponse(string Instance, DateOnly Day, int Used, int Limit, int Remaining,
    DateTimeOffset ResetsAt, IReadOnlyDictionary<string, int> ByPurpose, int Throttled, QuotaForecastResponse Forecast)
{
    public static QuotaResponse From(QuotaSnapshot snapshot) => new(snapshot.Instance, snapshot.Day, snapshot.Used,
        snapshot.Limit, snapshot.Remaining, snapshot.ResetsAt, snapshot.ByPurpose, snapshot.Throttled,
        new QuotaForecastResponse(snapshot.Forecast.ExhaustedAt, snapshot.Forecast.CallsAtDayEnd));
}

/// <summary><c>forecast</c> of <c>GET …/quota</c>.</summary>
public sealed record QuotaForecastResponse(DateTimeOffset? ExhaustedAt, int CallsAtDayEnd);
