using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.Server.FrontDoor;

namespace KarteMarketo.UnitTests.Hardening;

/// <summary>The 8 MiB list cap's cut (API.md, "A hardened host", Bounds), on small budgets.</summary>
public sealed class ListResponseCapTests
{
    private static byte[] Utf8(string json) => Encoding.UTF8.GetBytes(json);

    [Fact]
    public void The_largest_list_keeps_its_first_elements_that_fit_and_the_rest_of_the_object_stays()
    {
        var json = Utf8("""{"paused":false,"counts":{"a":[1,2,3]},"tags":["x"],"rows":[{"id":1,"v":"aaaa"},{"id":2,"v":[1,{"b":2}]},{"id":3,"v":"cccc"}],"next":null}""");
        var budget = json.Length; // all three rows fit, but not with "truncated" added

        var trimmed = Assert.IsType<byte[]>(ListResponseCap.Trim(json, budget));

        Assert.True(trimmed.Length <= budget);
        var node = JsonNode.Parse(trimmed)!.AsObject();
        Assert.Equal([1, 2], node["rows"]!.AsArray().Select(r => (int)r!["id"]!));
        Assert.Equal("""[1,{"b":2}]""", node["rows"]![1]!["v"]!.ToJsonString());
        Assert.True((bool)node["truncated"]!);
        Assert.Equal("""{"a":[1,2,3]}""", node["counts"]!.ToJsonString()); // a nested list is not the one cut
        Assert.Equal("""["x"]""", node["tags"]!.ToJsonString());
        Assert.True(node.ContainsKey("next"));
    }

    [Fact]
    public void A_budget_below_the_first_element_leaves_an_empty_list()
    {
        var json = Utf8("""{"events":[{"n":"0123456789"}]}""");

        var trimmed = ListResponseCap.Trim(json, """{"events":[],"truncated":true}""".Length);

        Assert.Equal("""{"events":[],"truncated":true}""", Encoding.UTF8.GetString(trimmed!));
    }

    [Theory]
    [InlineData("""[1,2,3]""")]
    [InlineData("""{"a":{"b":[1,2,3]}}""")]
    [InlineData("""{"a":"no list"}""")]
    public void Without_a_top_level_list_there_is_nothing_to_cut(string json) =>
        Assert.Null(ListResponseCap.Trim(Utf8(json), 4));
}
