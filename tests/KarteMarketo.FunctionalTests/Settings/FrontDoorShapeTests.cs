using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Contracts.Projects;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Projects;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using KarteMarketo.Server.FrontDoor;
using static KarteMarketo.FunctionalTests.FrontDoor.SettingsTestKit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>Request limits and error shapes of the front door (API.md, "Conventions"): 413, 400, 404, 405, 415, 500,
/// 503, all RFC 9457 problems.</summary>
public sealed class FrontDoorShapeTests(FaultyDirectoryAppFactory app) : IClassFixture<FaultyDirectoryAppFactory>
{
    [Fact]
    public async Task A_body_over_one_mebibyte_is_413()
    {
        using var admin = app.CreateAdminClient();
        var body = "{\"pad\":\"" + new string('x', RequestLimits.MaxBodyBytes) + "\"}";

        using var response = await admin.PutAsync("/v1/projects/shape-big/settings", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task A_chunked_body_over_one_mebibyte_is_413_too()
    {
        using var admin = app.CreateAdminClient();
        var bytes = Encoding.UTF8.GetBytes("{\"pad\":\"" + new string('x', RequestLimits.MaxBodyBytes) + "\"}");
        // No Content-Length: the limit must hold while reading.
        var content = new StreamContent(new NonSeekableStream(bytes));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await admin.PutAsync("/v1/projects/shape-big/settings", content);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        using var read = await admin.GetAsync("/v1/projects/shape-big/settings");
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
    }

    [Fact]
    public async Task A_body_of_exactly_one_mebibyte_is_read()
    {
        using var admin = app.CreateAdminClient();
        var settings = MinimalSettings();
        var prefix = settings.ToJsonString()[..^1] + ",\"padding\":\"";
        var body = prefix + new string('x', RequestLimits.MaxBodyBytes - prefix.Length - 2) + "\"}";
        Assert.Equal(RequestLimits.MaxBodyBytes, Encoding.UTF8.GetByteCount(body));

        using var response = await admin.PutAsync("/v1/projects/shape-edge/settings", new StringContent(body, Encoding.UTF8, "application/json"));

        // Read and judged on its content (an unknown member), not refused for its size.
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["padding"], ErrorPaths(problem));
    }

    [Theory]
    [InlineData("{\"marketo\":")]
    [InlineData("{\"marketo\":{}} trailing")]
    [InlineData("not json")]
    [InlineData("{'marketo':{}}")]
    public async Task Malformed_json_is_400_with_where_it_broke(string body)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PutAsync("/v1/projects/shape-json/settings", new StringContent(body, Encoding.UTF8, "application/json"));
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("line", (string)problem["detail"]!);
    }

    [Fact]
    public async Task A_wrong_type_is_400_naming_the_path()
    {
        using var admin = app.CreateAdminClient();
        var body = MinimalSettings();
        body["quota"] = new JsonObject { ["dailyLimit"] = "lots" };
        using var response = await admin.PutSettingsAsync("shape-type", body);
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("[\"must be an integer\"]", problem["errors"]!["quota.dailyLimit"]!.ToJsonString());
    }

    [Fact]
    public async Task A_non_json_content_type_is_415()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.PutAsync("/v1/projects/shape-type/settings",
            new StringContent(MinimalSettings().ToJsonString(), Encoding.UTF8, "text/plain"));
        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData("bad.id")]
    [InlineData("has%20space")]
    [InlineData("%C3%A4")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task A_malformed_project_id_is_400(string projectId)
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{projectId}/settings");
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["projectId"], ErrorPaths(problem));
    }

    [Fact]
    public async Task A_64_character_project_id_is_fine()
    {
        using var admin = app.CreateAdminClient();
        await admin.PutSettingsOkAsync(new string('p', 64), MinimalSettings());
    }

    [Fact]
    public async Task An_unknown_project_is_404_after_auth()
    {
        using var admin = app.CreateAdminClient();
        using var anonymous = app.CreateClient();

        using var asAdmin = await admin.GetAsync("/v1/projects/shape-nobody/settings");
        using var asNobody = await anonymous.GetAsync("/v1/projects/shape-nobody/settings");

        await AssertProblemAsync(asAdmin, HttpStatusCode.NotFound);
        await AssertProblemAsync(asNobody, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_unknown_route_is_404_problem()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync("/v1/no/such/thing");
        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_wrong_method_is_405_problem()
    {
        using var admin = app.CreateAdminClient();
        await admin.PutSettingsOkAsync("shape-405", MinimalSettings());

        using var response = await admin.DeleteAsync("/v1/projects/shape-405/settings");

        var problem = await AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed);
        Assert.Contains("DELETE", (string)problem["detail"]!);
    }

    [Fact]
    public async Task An_unexpected_exception_is_500_without_internals()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{FaultyDirectory.BrokenProject}/settings");
        var problem = await AssertProblemAsync(response, HttpStatusCode.InternalServerError);
        var text = problem.ToJsonString();
        Assert.DoesNotContain(FaultyDirectory.InternalDetail, text);
        Assert.DoesNotContain("InvalidOperationException", text);
        Assert.DoesNotContain("at KarteMarketo", text);
    }

    [Fact]
    public async Task A_database_outage_is_503_with_retry_after()
    {
        using var admin = app.CreateAdminClient();
        using var response = await admin.GetAsync($"/v1/projects/{FaultyDirectory.DatabaseDownProject}/settings");
        var problem = await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.DoesNotContain(FaultyDirectory.InternalDetail, problem.ToJsonString());
    }

    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }
}

/// <summary>The server with a project directory that fails for two project ids: one with an internal error, one with
/// a database outage (an <see cref="Npgsql.NpgsqlException"/>, as grain storage would throw it).</summary>
public sealed class FaultyDirectoryAppFactory : SettingsAppFactory
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            services.AddSingleton<IProjectDirectory>(sp => new FaultyDirectory(sp.GetRequiredService<ProjectDirectory>()));
        });
    }
}

internal sealed class FaultyDirectory(IProjectDirectory inner) : IProjectDirectory
{
    public const string BrokenProject = "fault-broken";
    public const string DatabaseDownProject = "fault-db-down";
    public const string InternalDetail = "connection string Host=db;Password=hunter2";

    public ValueTask<ProjectRecord?> GetAsync(string projectId, CancellationToken cancellationToken = default) =>
        GetAsync(projectId, TimeSpan.FromSeconds(3), cancellationToken);

    public ValueTask<ProjectRecord?> GetAsync(string projectId, TimeSpan maxAge, CancellationToken cancellationToken = default) =>
        projectId switch
        {
            BrokenProject => throw new InvalidOperationException(InternalDetail),
            DatabaseDownProject => throw new Npgsql.NpgsqlException(InternalDetail),
            _ => inner.GetAsync(projectId, maxAge, cancellationToken),
        };

    public void Invalidate(string projectId) => inner.Invalidate(projectId);
}
