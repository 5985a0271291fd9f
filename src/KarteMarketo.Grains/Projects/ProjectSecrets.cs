namespace KarteMarketo.Grains.Projects;

/// <summary>
/// Which members of <see cref="ProjectSettings"/> are secrets kept encrypted in grain state. A new secret member
/// is added here, in all three methods, and nowhere else.
/// </summary>
internal static class ProjectSecrets
{
    /// <summary>The settings as stored: every secret encrypted.</summary>
    public static ProjectSettings Protect(ProjectSettings settings, ISecretProtector protector) =>
        Map(settings, s => protector.IsProtected(s) ? s : protector.Protect(s));

    /// <summary>The settings as used: every secret in plain text (old plain-text state passes through).</summary>
    public static ProjectSettings Unprotect(ProjectSettings settings, ISecretProtector protector) =>
        Map(settings, protector.Unprotect);

    /// <summary>True when some secret of stored settings is still in plain text (written before encryption).</summary>
    public static bool HasPlainText(ProjectSettings settings, ISecretProtector protector)
    {
        var plain = false;
        Map(settings, s =>
        {
            plain |= !protector.IsProtected(s);
            return s;
        });
        return plain;
    }

    private static ProjectSettings Map(ProjectSettings settings, Func<string, string> map)
    {
        var m = settings.Marketo;
        var k = settings.Karte;
        return settings with
        {
            Marketo = m with
            {
                ClientSecret = map(m.ClientSecret),
                MunchkinPrivateKey = m.MunchkinPrivateKey is null ? null : map(m.MunchkinPrivateKey),
            },
            Karte = k with { AppToken = k.AppToken is null ? null : map(k.AppToken) },
        };
    }
}
