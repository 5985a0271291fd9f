using System.Net;
using System.Net.Sockets;

namespace KarteMarketo.Marketo.Outbound;

/// <summary>Which IP addresses an outbound call may reach when private addresses are not allowed.</summary>
public static class OutboundAddresses
{
    /// <summary>
    /// True for addresses on the public internet; false for loopback, unspecified, private (RFC 1918, unique local),
    /// carrier-grade NAT, link-local (169.254/16 holds the cloud metadata service), multicast and reserved ranges.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return false;
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => IsPublicV4(address.GetAddressBytes()),
            AddressFamily.InterNetworkV6 => IsPublicV6(address),
            _ => false,
        };
    }

    private static bool IsPublicV4(byte[] b) => b[0] switch
    {
        0 => false,                                    // "this network"
        10 => false,                                   // private
        100 when b[1] is >= 64 and <= 127 => false,    // carrier-grade NAT
        127 => false,                                  // loopback
        169 when b[1] == 254 => false,                 // link-local, cloud metadata (169.254.169.254)
        172 when b[1] is >= 16 and <= 31 => false,     // private
        192 when b[1] == 0 && b[2] == 0 => false,      // IETF protocol assignments
        192 when b[1] == 168 => false,                 // private
        198 when b[1] is 18 or 19 => false,            // benchmarking
        >= 224 => false,                               // multicast, reserved, broadcast
        _ => true,
    };

    private static bool IsPublicV6(IPAddress address)
    {
        if (address.Equals(IPAddress.IPv6Any) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal ||
            address.IsIPv6Multicast || address.IsIPv6UniqueLocal)
            return false;
        var b = address.GetAddressBytes();
        // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address: judge that one.
        if (b.Take(12).All(x => x == 0)) return IsPublicV4(b[12..]);
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) return IsPublicV4(b[12..]);
        if (b[0] == 0x20 && b[1] == 0x02) return IsPublicV4(b[2..6]);
        return true;
    }
}
