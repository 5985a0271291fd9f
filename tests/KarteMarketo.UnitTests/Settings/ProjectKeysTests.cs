using System.Diagnostics;
using KarteMarketo.Grains.Projects;

namespace KarteMarketo.UnitTests.FrontDoor;

public sealed class ProjectKeysTests
{
    [Fact]
    public void Keys_are_url_safe_carry_the_project_and_256_random_bits()
    {
        var keys = Enumerable.Range(0, 200).Select(_ => ProjectKeys.Generate("shop-1_a")).ToList();

        Assert.Equal(keys.Count, keys.Distinct().Count());
        foreach (var key in keys)
        {
            Assert.Matches("^shop-1_a_[A-Za-z0-9_-]{43}$", key);
            Assert.Equal("shop-1_a", ProjectKeys.ProjectIdOf(key));
        }
        // Every one of the 64 URL-safe characters shows up somewhere: the random part is not, say, hex.
        var alphabet = keys.SelectMany(k => k[^ProjectKeys.RandomLength..]).Distinct().Count();
        Assert.Equal(64, alphabet);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("no-separator")]
    [InlineData("p_tooshort")]
    [InlineData("bad.project_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("p-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("p_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Values_without_the_credential_shape_name_no_project(string? presented)
    {
        Assert.Null(ProjectKeys.ProjectIdOf(presented));
    }

    [Fact]
    public void A_project_id_may_itself_contain_underscores()
    {
        var key = ProjectKeys.Generate("a_b_c");
        Assert.Equal("a_b_c", ProjectKeys.ProjectIdOf(key));
    }

    [Fact]
    public void Hashes_verify_the_key_and_nothing_else()
    {
        var key = ProjectKeys.Generate("p1");
        var hash = ProjectKeys.Hash(key);

        Assert.True(ProjectKeys.Verify(hash, key));
        Assert.False(ProjectKeys.Verify(hash, key[..^1] + (key[^1] == 'A' ? 'B' : 'A')));
        Assert.False(ProjectKeys.Verify(hash, key + "x"));
        Assert.False(ProjectKeys.Verify(hash, ""));
        Assert.False(ProjectKeys.Verify(hash, null));
        Assert.DoesNotContain(key, hash.Hash + hash.Salt);
        Assert.Equal(key[^4..], hash.LastFour);
    }

    [Fact]
    public void Each_hash_has_its_own_salt()
    {
        var key = ProjectKeys.Generate("p1");
        var a = ProjectKeys.Hash(key);
        var b = ProjectKeys.Hash(key);

        Assert.NotEqual(a.Salt, b.Salt);
        Assert.NotEqual(a.Hash, b.Hash);
        Assert.True(ProjectKeys.Verify(b, key));
    }

    [Fact]
    public void A_corrupt_stored_hash_verifies_nothing()
    {
        var key = ProjectKeys.Generate("p1");
        var hash = ProjectKeys.Hash(key);
        Assert.False(ProjectKeys.Verify(hash with { Hash = "not base64!" }, key));
        Assert.False(ProjectKeys.Verify(hash with { Salt = "not base64!" }, key));
        Assert.False(ProjectKeys.Verify(hash with { Hash = Convert.ToBase64String(new byte[8]) }, key));
    }

    [Fact]
    public void Checking_a_key_is_cheap_enough_for_every_request()
    {
        var key = ProjectKeys.Generate("p1");
        var hash = ProjectKeys.Hash(key);
        ProjectKeys.Verify(hash, key);

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 10_000; i++) Assert.True(ProjectKeys.Verify(hash, key));
        watch.Stop();

        // About a microsecond each; a generous bound keeps this stable on a busy 2-core machine.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"10,000 checks took {watch.Elapsed}");
    }

    [Theory]
    [InlineData("abcdefghijkl", "****ijkl")]
    [InlineData("12345678", "****5678")]
    [InlineData("short", "****")]
    [InlineData("", "****")]
    public void Masks_show_at_most_the_last_four_characters(string secret, string masked)
    {
        Assert.Equal(masked, ProjectKeys.Mask(secret));
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("Shop_1-x", true)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("a.b", false)]
    [InlineData("ä", false)]
    [InlineData("a/b", false)]
    public void Project_ids_follow_the_contract(string id, bool valid)
    {
        Assert.Equal(valid, ProjectKeys.IsValidProjectId(id));
    }

    [Fact]
    public void Project_ids_are_at_most_64_characters()
    {
        Assert.True(ProjectKeys.IsValidProjectId(new string('a', 64)));
        Assert.False(ProjectKeys.IsValidProjectId(new string('a', 65)));
        Assert.Equal(new string('a', 64), ProjectKeys.ProjectIdOf(ProjectKeys.Generate(new string('a', 64))));
    }
}
