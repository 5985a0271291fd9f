using Microsoft.Playwright;

namespace KarteMarketo.ConsoleTests.Infrastructure;

/// <summary>
/// One host and one headless Chromium (Debian's <c>/usr/bin/chromium</c>; Playwright's own browser download is not
/// used) for all console tests, so the whole run stays short. Each test opens its own browser context (own cookies)
/// and uses its own project.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>The limit the issue sets for every page.</summary>
    public const long MaxScriptBytesPerPage = 300 * 1024;

    public ConsoleHost Host { get; } = new();
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where every screenshot goes (git-ignored), and where one per page is kept for the README.</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(RepositoryRoot(), "TestResults", "console");
    public static string DocsDirectory { get; } = Path.Combine(RepositoryRoot(), "docs", "console");

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: apt-get install chromium (.ci/run installs it)");
        Host.StartServer();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotDirectory);
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Host.DisposeAsync();
    }

    /// <summary>A fresh context (no cookies) whose pages count the script they load.</summary>
    public async Task<ConsoleSession> OpenAsync(string? acceptLanguage = "en-US,en;q=0.9")
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Host.BaseAddress.ToString(),
            Locale = acceptLanguage?.Split(',')[0],
            ExtraHTTPHeaders = acceptLanguage is null ? null : new Dictionary<string, string> { ["Accept-Language"] = acceptLanguage },
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
        });
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        return new ConsoleSession(context, page);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "KarteMarketo.sln"))) directory = directory.Parent;
        return directory?.FullName ?? AppContext.BaseDirectory;
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}

/// <summary>A browser context and its page; counts the bytes of script each page load brings in.</summary>
public sealed class ConsoleSession : IAsyncDisposable
{
    private long _scriptBytes;

    public ConsoleSession(IBrowserContext context, IPage page)
    {
        Context = context;
        Page = page;
        page.Response += async (_, response) =>
        {
            if (response.Request.ResourceType != "script") return;
            try
            {
                Interlocked.Add(ref _scriptBytes, (await response.BodyAsync()).Length);
            }
            catch (PlaywrightException)
            {
                // A response without a body (a redirect) brings no script.
            }
        };
    }

    public IBrowserContext Context { get; }
    public IPage Page { get; }

    /// <summary>Opens a console path and checks its script budget (loaded scripts plus inline ones).</summary>
    public async Task<IResponse?> GotoAsync(string path)
    {
        Interlocked.Exchange(ref _scriptBytes, 0);
        var response = await Page.GotoAsync(path, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        await AssertScriptBudgetAsync();
        return response;
    }

    /// <summary>Script bytes of the current page: every script response since the last navigation, plus inline
    /// script text. The console renders on the server and ships none, so this is 0 today; the assert keeps it under
    /// 300 KB if script is ever added.</summary>
    public async Task<long> ScriptBytesAsync()
    {
        var inline = await Page.EvaluateAsync<long>("() => [...document.scripts].reduce((n, s) => n + (s.src ? 0 : s.text.length), 0)");
        return Interlocked.Read(ref _scriptBytes) + inline;
    }

    public async Task AssertScriptBudgetAsync()
    {
        var bytes = await ScriptBytesAsync();
        Assert.True(bytes <= ConsoleFixture.MaxScriptBytesPerPage, $"{Page.Url} loaded {bytes} bytes of script (limit 300 KB)");
    }

    /// <summary>Saves a full-page screenshot under TestResults/console; with <paramref name="docs"/>, also under
    /// docs/console where KARTEMARKETO_UPDATE_DOCS=1 (the README shows those).</summary>
    public async Task ScreenshotAsync(string name, bool docs = false)
    {
        var file = Path.Combine(ConsoleFixture.ScreenshotDirectory, name + ".png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        if (docs && Environment.GetEnvironmentVariable("KARTEMARKETO_UPDATE_DOCS") == "1")
        {
            Directory.CreateDirectory(ConsoleFixture.DocsDirectory);
            File.Copy(file, Path.Combine(ConsoleFixture.DocsDirectory, name + ".png"), overwrite: true);
        }
    }

    /// <summary>Signs in through the login form and waits for the signed-in page.</summary>
    /// <remarks>Waits for the sign-out button rather than a load state: a load-state wait begun after the click can
    /// miss a navigation that already finished, and then waits for one that never comes (seen once in CI).</remarks>
    public async Task SignInAsync(string key = ConsoleHost.AdminKey)
    {
        await GotoAsync("/admin/login");
        await Page.FillAsync("#adminKey", key);
        await Page.ClickAsync("#sign-in");
        await Assertions.Expect(Page.Locator("#sign-out")).ToBeVisibleAsync();
    }

    public async ValueTask DisposeAsync() => await Context.DisposeAsync();
}
