using System.Reflection;
using System.Runtime.ExceptionServices;
using KarteMarketo.FunctionalTests.Infrastructure;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Identity;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using static KarteMarketo.FunctionalTests.Sync.SyncTestKit;

namespace KarteMarketo.FunctionalTests.Sync;

/// <summary>
/// A lookup answered while the users' store refuses the write (a database out of connections): the key must not be
/// left stored as synced with its users never written, or nothing would look it up again for the whole resync window.
/// </summary>
public sealed class UserInfoWriteFailureTests(UserStoreFaultAppFactory app) : IClassFixture<UserStoreFaultAppFactory>
{
    [Fact]
    public async Task A_failed_user_info_write_leaves_the_key_pending_and_the_recovery_writes_it()
    {
        long leadId = 0;
        await using var kit = await StartAsync(app, UserStoreFaultAppFactory.Project, Settings(batchDelayMs: 1000),
            seed: s => leadId = s.SeedLead("refused@example.com", ("firstName", "Rei")));
        app.FailApplySyncResults(1);

        await kit.SendAsync([Identify("refused-user", "refused@example.com")]);
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => Task.FromResult(app.FailuresLeft == 0 && kit.LookupCalls == 1),
            "the lookup answered and the users' write refused");

        var user = await kit.GetUserAsync("refused-user");
        Assert.Null(LeadIdOf(user));
        Assert.Equal("pending", LastResultOf(user));

        // The journal's recovery finds the key still pending, looks it up again and writes the user info this time.
        await kit.AdvanceAsync(TimeSpan.FromSeconds(61));
        await app.Services.GetRequiredService<PendingLookupRecovery>().ScanOnceAsync();
        await kit.AdvanceUntilAsync(TimeSpan.FromSeconds(1), async () => LeadIdOf(await kit.GetUserAsync("refused-user")) == leadId,
            "the user synced after the recovery", diagnostics: () => kit.DumpAsync("refused-user"));
        Assert.Equal(2, kit.LookupCalls);
        Assert.Equal("Rei", (string?)(await kit.GetUserAsync("refused-user"))?["identify"]?["marketo"]?["firstName"]);
        Assert.Equal(1, await kit.SegmentCountAsync("marketo-lead-synced"));
    }
}

/// <summary>The server whose user store refuses <see cref="IUserStore.ApplySyncResultAsync"/> for
/// <see cref="Project"/> as many times as armed.</summary>
public sealed class UserStoreFaultAppFactory : KarteMarketoAppFactory
{
    public const string Project = "user-write-fails";
    private int _failuresLeft;

    public int FailuresLeft => Volatile.Read(ref _failuresLeft);

    public void FailApplySyncResults(int times) => Volatile.Write(ref _failuresLeft, times);

    internal bool TakeFailure(string projectId)
    {
        if (projectId != Project) return false;
        while (true)
        {
            var left = Volatile.Read(ref _failuresLeft);
            if (left <= 0) return false;
            if (Interlocked.CompareExchange(ref _failuresLeft, left - 1, left) == left) return true;
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            var registered = services.Last(d => d.ServiceType == typeof(IUserStore));
            services.RemoveAll<IUserStore>();
            services.AddSingleton(registered.ImplementationType!);
            services.AddSingleton<IUserStore>(sp => RefusingUserStore.Wrap((IUserStore)sp.GetRequiredService(registered.ImplementationType!), this));
        });
    }
}

/// <summary>Passes every call to the real store, except the sync-result writes its factory says to refuse.</summary>
public class RefusingUserStore : DispatchProxy
{
    private IUserStore _inner = null!;
    private UserStoreFaultAppFactory _factory = null!;

    internal static IUserStore Wrap(IUserStore inner, UserStoreFaultAppFactory factory)
    {
        var proxy = Create<IUserStore, RefusingUserStore>();
        var self = (RefusingUserStore)(object)proxy;
        self._inner = inner;
        self._factory = factory;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod!.Name == nameof(IUserStore.ApplySyncResultAsync) && _factory.TakeFailure((string)args![0]!))
            return Task.FromException(new InvalidOperationException("the database refused the write (test)"));
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
            throw;
        }
    }
}
