using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Dashboard;

namespace KarteMarketo.Server.Apis;

public static class OperationsApi
{
    public const string DashboardPath = "/dashboard";
    private const string DashboardCookie = "km_dashboard";

    /// <summary>Endpoints: health, metrics, openapi, dashboard.</summary>
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app)
    {
        // Live: the process answers. Ready: the silo is Active and PostgreSQL (where configured) answers.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealthAsync })
            .ExcludeFromDescription();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(TelemetrySetup.ReadyTag),
            ResponseWriter = WriteHealthAsync,
        }).ExcludeFromDescription();

        app.MapPrometheusScrapingEndpoint("/metrics").ExcludeFromDescription();
        app.MapOpenApi();

        var environment = app.ServiceProvider.GetRequiredService<IHostEnvironment>();
        if (!environment.IsDevelopment() && app is IApplicationBuilder pipeline)
        {
            // Outside Development the dashboard needs the admin key. The check runs as middleware on the /dashboard
            // path (before the dashboard's own endpoints), so it covers every page, script and JSON call it serves.
            var keys = app.ServiceProvider.GetRequiredService<AdminKeyProvider>();
            pipeline.UseWhen(
                context => context.Request.Path.StartsWithSegments(DashboardPath),
                branch => branch.Use((context, next) => AuthorizeDashboardAsync(context, next, keys)));
        }
        app.MapOrleansDashboard(routePrefix: DashboardPath).ExcludeFromDescription();
        return app;
    }

    /// <summary>
    /// Accepts <c>Authorization: Bearer &lt;admin key&gt;</c>; or, for browsers, <c>/dashboard/?key=&lt;admin key&gt;</c>
    /// once, which sets an HttpOnly cookie scoped to /dashboard holding a token derived from the key (not the key),
    /// so that the dashboard's own script and JSON requests are let in as well.
    /// </summary>
    private static async Task AuthorizeDashboardAsync(HttpContext context, RequestDelegate next, AdminKeyProvider keys)
    {
        var failedAuth = context.RequestServices.GetRequiredService<FailedAuthLimiter>();
        if (failedAuth.RetryAfter(context) is { } retryAfter)
        {
            await FailedAuthLimiter.RejectAsync(context, retryAfter);
            return;
        }
        var token = DashboardToken(keys.AdminKey);
        var header = context.Request.Headers.Authorization.ToString();
        var bearer = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        if (keys.Matches(bearer) || CookieMatches(context.Request.Cookies[DashboardCookie], token))
        {
            await next(context);
            return;
        }

        if (keys.Matches(context.Request.Query["key"].ToString()))
        {
            context.Response.Cookies.Append(DashboardCookie, token, new CookieOptions
            {
                HttpOnly = true,
                Secure = context.Request.IsHttps,
                SameSite = SameSiteMode.Strict,
                Path = DashboardPath,
            });
            // Drop the key from the address bar (and from later Referer headers).
            context.Response.Redirect(DashboardPath + "/");
            return;
        }

        failedAuth.RecordFailure(context);
        context.Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: "The dashboard needs the admin key: Authorization: Bearer <key>, or open /dashboard/?key=<key> once.")
            .ExecuteAsync(context);
    }

    private static string DashboardToken(string adminKey) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(adminKey), "kartemarketo-dashboard"u8))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool CookieMatches(string? cookie, string token) =>
        cookie is not null &&
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(cookie)), SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }
}
