using System.Net;
using KarteMarketo.Marketo.Outbound;

namespace KarteMarketo.UnitTests.Hardening;

/// <summary>Which addresses outbound calls may reach when private addresses are not allowed.</summary>
public sealed class OutboundAddressesTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("10.0.0.5")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fc00::1")]
    [InlineData("::ffff:10.1.2.3")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:0a00:0001::1")]
    [InlineData("ff02::1")]
    public void Non_public_addresses_are_refused(string address) => Assert.False(OutboundAddresses.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("104.17.1.1")]
    [InlineData("172.32.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.4.4")]
    public void Public_addresses_are_allowed(string address) => Assert.True(OutboundAddresses.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void Error_text_for_callers_never_carries_the_address()
    {
        var wrapped = new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (10.1.2.3:443)", new OutboundAddressRefusedException());
        var refused = new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (10.1.2.3:443)");

        Assert.DoesNotContain("10.1.2.3", OutboundErrors.Describe(wrapped));
        Assert.Contains("private", OutboundErrors.Describe(wrapped));
        Assert.Equal("the connection could not be made", OutboundErrors.Describe(refused));
    }
}
