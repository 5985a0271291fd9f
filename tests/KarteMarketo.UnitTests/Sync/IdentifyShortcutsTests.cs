using KarteMarketo.Contracts;
using KarteMarketo.Contracts.LeadSync;
using KarteMarketo.Grains.Flows.LeadSync;

namespace KarteMarketo.UnitTests.Sync;

/// <summary>The per-silo shortcut table: entries are per project and key type, replaced and withdrawn exactly, and
/// counted.</summary>
public sealed class IdentifyShortcutsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly IdentifyShortcuts _shortcuts = new();

    private static IdentifyShortcut Entry(long version, params string[] users) => new(users, version, Now.AddHours(1), cookieFallbackIsNoOp: true);

    [Fact]
    public void An_entry_answers_only_for_its_own_project_key_type_user_and_version()
    {
        var key = new LeadKeyId("p1", LeadKeyType.Email, "a@example.com");
        _shortcuts.Publish(key, Entry(3, "u1"));

        Assert.True(_shortcuts.IsNoOpIdentify(key, "u1", false, 3, Now));
        Assert.False(_shortcuts.IsNoOpIdentify(key, "u2", false, 3, Now));
        Assert.False(_shortcuts.IsNoOpIdentify(key, "u1", false, 4, Now));
        Assert.False(_shortcuts.IsNoOpIdentify(key, "u1", false, 3, Now.AddHours(1)));
        Assert.False(_shortcuts.IsNoOpIdentify(key with { ProjectId = "p2" }, "u1", false, 3, Now));
        Assert.False(_shortcuts.IsNoOpIdentify(key with { Type = LeadKeyType.Cookie }, "u1", false, 3, Now));
        Assert.Null(_shortcuts.ForProject("p2"));
        Assert.True(_shortcuts.ForProject("p1")!.IsLinked(LeadKeyType.Email, "a@example.com", "u1", 3));
    }

    [Fact]
    public void Publishing_again_replaces_and_withdrawing_removes_and_the_count_follows()
    {
        var a = new LeadKeyId("p1", LeadKeyType.Email, "a@example.com");
        var b = new LeadKeyId("p1", LeadKeyType.Cookie, "a@example.com");
        _shortcuts.Publish(a, Entry(1, "u1"));
        _shortcuts.Publish(a, Entry(1, "u2"));
        _shortcuts.Publish(b, Entry(1, "u1"));
        Assert.Equal(2, _shortcuts.Count);
        Assert.False(_shortcuts.IsLinked(a, "u1", 1));
        Assert.True(_shortcuts.IsLinked(a, "u2", 1));

        _shortcuts.Withdraw(a);
        _shortcuts.Withdraw(a);                                   // twice: counted once
        _shortcuts.Withdraw(new LeadKeyId("p9", LeadKeyType.Email, "x@example.com"));
        Assert.Equal(1, _shortcuts.Count);
        Assert.False(_shortcuts.IsLinked(a, "u2", 1));
        Assert.True(_shortcuts.IsLinked(b, "u1", 1));
    }

    [Fact]
    public async Task Concurrent_publishing_and_withdrawing_keeps_the_count_exact()
    {
        var keys = Enumerable.Range(0, 200).Select(i => new LeadKeyId("p", LeadKeyType.Email, $"u{i}@example.com")).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var round = 0; round < 200; round++)
            {
                foreach (var key in keys)
                {
                    _shortcuts.Publish(key, Entry(round, "u"));
                    if ((round + worker) % 3 == 0) _shortcuts.Withdraw(key);
                }
            }
        })));
        // Whatever round published a key last, its entry links "u" under that round's version.
        var present = keys.Count(k => Enumerable.Range(0, 200).Any(version => _shortcuts.IsLinked(k, "u", version)));
        Assert.Equal(present, _shortcuts.Count);
    }
}
