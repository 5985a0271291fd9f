using System.Text;
using KarteMarketo.Server.FrontDoor;

namespace KarteMarketo.UnitTests.Hardening;

/// <summary>The front door's text rule (API.md, "A hardened host"): what storage cannot hold is found, with its path.</summary>
public sealed class TextRuleTests
{
    private static (string Path, string Message)? Check(string json) => TextRule.Check(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("""{"userId":"a\u0000b"}""", "userId", "U+0000")]
    [InlineData("""{"values":{"note":"x\u0000"}}""", "values.note", "U+0000")]
    [InlineData("""[{"userId":"ok"},{"userId":"\ud800"}]""", "[1].userId", "lone surrogate")]
    [InlineData("""{"values":{"note":"\udc00x"}}""", "values.note", "lone surrogate")]
    [InlineData("""{"userId":"a\tb"}""", "userId", "control")]
    [InlineData("""{"marketo":{"clientId":"a\u001fb"}}""", "marketo.clientId", "control")]
    [InlineData("""{"values":{"e\nmail":"x"}}""", "values.e\\u000amail", "control")]
    [InlineData("""{"marketo":{"customFields":["ok","a\u0007"]}}""", "marketo.customFields[1]", "control")]
    [InlineData("""{"event":"view\r"}""", "event", "control")]
    public void Finds_the_first_bad_string_and_names_its_path(string json, string path, string what)
    {
        var found = Check(json);

        Assert.NotNull(found);
        Assert.Equal(path, found.Value.Path);
        Assert.Contains(what, found.Value.Message);
    }

    [Theory]
    [InlineData("""{"userId":"u-1","values":{"firstName":"Ann\nMarie","note":"tab\there"}}""")]
    [InlineData("""{"userId":"😀 emoji pair \ud83d\ude00","event":"identify"}""")]
    [InlineData("""[1, true, null, {"a":[[]]}]""")]
    [InlineData("""{"fields":{"lastName":"line\r\nbreak"}}""")]
    public void Leaves_data_with_control_characters_and_valid_pairs_alone(string json) => Assert.Null(Check(json));

    [Fact]
    public void Malformed_json_is_left_to_the_parser() => Assert.Null(Check("{\"a\":"));

    [Theory]
    [InlineData("/v1/projects/p/users/a\u0000b")]
    [InlineData("/v1/projects/p/users/a\nb")]
    public void Path_segments_are_identifiers(string path) => Assert.NotNull(TextRule.CheckIdentifier(path));

    [Fact]
    public void A_lone_surrogate_in_a_path_is_refused() =>
        // Built in code: attribute arguments cannot carry a lone surrogate.
        Assert.Contains("surrogate", TextRule.CheckIdentifier("/v1/projects/p" + (char)0xD800 + "/settings"));
}

/// <summary>The 64 KiB bound on the values of one stored event, lead or activity.</summary>
public sealed class ValuesBoundTests
{
    [Theory]
    [InlineData("values", "[1].values")]
    [InlineData("fields", "[1].fields")]
    [InlineData("attributes", "[1].attributes")]
    public void A_values_map_over_64_KiB_is_named_by_its_path(string member, string path)
    {
        var json = $"[{{\"{member}\":{{}}}},{{\"{member}\":{{\"pad\":\"{new string('v', 65 * 1024)}\"}}}}]";

        var found = TextRule.Check(Encoding.UTF8.GetBytes(json));

        Assert.NotNull(found);
        Assert.Equal(path, found.Value.Path);
        Assert.True(TextRule.IsOversize(found.Value.Message));
    }

    [Fact]
    public void Values_up_to_64_KiB_pass() =>
        Assert.Null(TextRule.Check(Encoding.UTF8.GetBytes($"{{\"values\":{{\"pad\":\"{new string('v', 63 * 1024)}\"}}}}")));
}
