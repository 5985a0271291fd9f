using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace KarteMarketo.Server.Admin;

/// <summary>
/// The admin console at <c>/admin/</c> (API.md, "Admin console"): Razor Pages rendered on the server, no script. Sign-in
/// with the admin key gives a cookie session scoped to <c>/admin</c>; every form carries an antiforgery token (Razor
/// Pages validate it on every POST); pages call the same services as the API.
/// </summary>
public static class ConsoleSetup
{
    public const string PathPrefix = "/admin";
    public const string Scheme = "KarteMarketo.Console";
    public const string Policy = "KarteMarketo.Console";

    public static WebApplicationBuilder AddAdminConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorPages(options =>
        {
            options.RootDirectory = "/Admin/Pages";
            options.Conventions.AuthorizeFolder("/", Policy);
            options.Conventions.AllowAnonymousToPage("/Login");
        });
        builder.Services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "km_console_af";
            options.Cookie.Path = PathPrefix;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.FormFieldName = "__km_af";
        });
        builder.Services.AddAuthentication()
            .AddCookie(Scheme, options =>
            {
                options.Cookie.Name = "km_console";
                options.Cookie.Path = PathPrefix;
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Strict;
                options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                options.LoginPath = PathPrefix + "/login";
                options.LogoutPath = PathPrefix + "/logout";
                options.AccessDeniedPath = PathPrefix + "/login";
                options.ReturnUrlParameter = "returnUrl";
                options.ExpireTimeSpan = ConsoleAuth.SessionLifetime;
                options.SlidingExpiration = true;
                options.Events.OnValidatePrincipal = ConsoleAuth.ValidateAsync;
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        return builder;
    }

    /// <summary>Authentication (the console's cookie only: API requests carry no cookie and are not touched), and
    /// headers for every console answer: never cached (pages show settings and keys), never framed, no script.</summary>
    public static WebApplication UseAdminConsole(this WebApplication app)
    {
        app.UseWhen(context => context.Request.Path.StartsWithSegments(PathPrefix), branch =>
        {
            branch.Use((context, next) =>
            {
                context.Response.OnStarting(() =>
                {
                    var headers = context.Response.Headers;
                    headers.CacheControl = "no-store";
                    headers["X-Frame-Options"] = "DENY";
                    headers["X-Content-Type-Options"] = "nosniff";
                    headers["Referrer-Policy"] = "same-origin";
                    headers.ContentSecurityPolicy =
                        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
                    return Task.CompletedTask;
                });
                return next(context);
            });
        });
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    public static WebApplication MapAdminConsole(this WebApplication app)
    {
        app.MapRazorPages().ExcludeFromDescription();
        return app;
    }
}

/// <summary>The console session: who signed in, tied to the admin key it was opened with.</summary>
public static class ConsoleAuth
{
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);
    private const string KeyStampClaim = "km:key-stamp";

    /// <summary>Opens a session for a correct admin key (compared as the API compares it, in constant time).</summary>
    public static async Task<bool> TrySignInAsync(HttpContext context, AdminKeyProvider keys, string? presented)
    {
        if (!keys.Matches(presented)) return false;
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, "admin"), new Claim(KeyStampClaim, KeyStamp(keys.AdminKey))], ConsoleSetup.Scheme);
        await context.SignInAsync(ConsoleSetup.Scheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { IsPersistent = false, AllowRefresh = true });
        return true;
    }

    public static Task SignOutAsync(HttpContext context) => context.SignOutAsync(ConsoleSetup.Scheme);

    /// <summary>A session opened with an admin key that is no longer configured ends at once (the cookie carries a
    /// stamp derived from the key, never the key itself).</summary>
    internal static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var keys = context.HttpContext.RequestServices.GetRequiredService<AdminKeyProvider>();
        var stamp = context.Principal?.FindFirst(KeyStampClaim)?.Value;
        if (stamp is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.ASCII.GetBytes(stamp), System.Text.Encoding.ASCII.GetBytes(KeyStamp(keys.AdminKey))))
            return;
        context.RejectPrincipal();
        await context.HttpContext.SignOutAsync(ConsoleSetup.Scheme);
    }

    private static string KeyStamp(string adminKey) => Convert.ToHexString(
        System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(adminKey), "kartemarketo-console"u8));
}
