namespace KarteMarketo.Server.FrontDoor;

public static class FrontDoorSetup
{
    /// <summary>Problem details, request limits and auth.</summary>
    public static WebApplicationBuilder AddFrontDoor(this WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
            context.ProblemDetails.Detail ??= Problems.DefaultDetail(context.HttpContext, status);
        });
        builder.Services.AddExceptionHandler<FrontDoorExceptionHandler>();
        builder.Services.AddSingleton<FailedAuthLimiter>();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = RequestLimits.MaxBodyBytes);

        // ASP.NET Core's own request lines carry the query string, and Marketo webhooks may carry their secret there
        // (?secret=). Those lines are turned off; RequestLogMiddleware logs each request by path instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        return builder;
    }

    public static WebApplication UseKarteMarketoFrontDoor(this WebApplication app)
    {
        app.UseMiddleware<ClusterRetryScopeMiddleware>();
        app.UseMiddleware<RequestLogMiddleware>();
        app.Use((context, next) =>
        {
            // API answers may carry a full key (settings creation, key rotation, the console): no cache may keep one.
            if (context.Request.Path.StartsWithSegments("/v1") || context.Request.Path.StartsWithSegments("/admin"))
                context.Response.Headers.CacheControl = "no-store";
            return next(context);
        });
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            SuppressDiagnosticsCallback = FrontDoorExceptionHandler.SuppressDiagnostics,
        });
        // Bodiless error answers (unknown route 404, wrong method 405, …) become problem+json. Not under the embedded
        // Marketo sandbox, which must answer exactly as Marketo does, nor the dashboard.
        app.UseWhen(context => !IsPassThrough(context.Request.Path), branch => branch.UseStatusCodePages());
        // List answers at most 8 MiB: over it, the list is cut and says "truncated" (ListResponseCap).
        app.UseMiddleware<ListResponseCapMiddleware>();
        app.UseMiddleware<RequestBodyLimitMiddleware>();
        app.UseMiddleware<TextRuleMiddleware>();
        app.UseRouting();
        app.UseMiddleware<ProjectAuthMiddleware>();
        return app;
    }

    private static bool IsPassThrough(PathString path) =>
        path.StartsWithSegments("/sandbox") || path.StartsWithSegments("/dashboard");
}

/// <summary>One line per request: method, path (never the query: it may hold a secret), status and duration.</summary>
internal sealed class RequestLogMiddleware(RequestDelegate next, ILogger<RequestLogMiddleware> logger, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = time.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            // The API at Information; the dashboard's polling, health probes and scrapes only at Debug.
            var level = context.Request.Path.StartsWithSegments("/v1") ? LogLevel.Information : LogLevel.Debug;
            if (logger.IsEnabled(level))
            {
                logger.Log(level, "{Method} {Path} answered {StatusCode} in {ElapsedMilliseconds:0.0} ms",
                    context.Request.Method, context.Request.Path, context.Response.StatusCode,
                    time.GetElapsedTime(started).TotalMilliseconds);
            }
        }
    }
}
