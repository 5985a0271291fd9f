using System.Collections.Concurrent;
using KarteMarketo.Grains.Marketo;
using Microsoft.Extensions.Logging;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// Which lead fields to ask Marketo for, per silo and Marketo instance: the standard fields the instance has (learned
/// from describe once a day, through the gateway as purpose Other) minus the project's <c>excludedFields</c>, plus its
/// <c>customFields</c>, minus fields Marketo answered 1006 for (until the next describe). Until describe has answered,
/// only Marketo's default lookup fields are asked for.
/// </summary>
public sealed partial class LeadFieldCatalog(IMarketoGateway gateway, TimeProvider time, ILogger<LeadFieldCatalog> logger)
{
    /// <summary>How long a describe answer is trusted.</summary>
    public static readonly TimeSpan DescribeLifetime = TimeSpan.FromDays(1);

    /// <summary>How long to wait before asking again after describe failed or had no permit.</summary>
    public static readonly TimeSpan DescribeRetry = TimeSpan.FromMinutes(10);

    /// <summary>What a lookup without <c>fields</c> returns: present on every instance.</summary>
    private static readonly HashSet<string> DefaultFields = new(["id", "email", "updatedAt", "createdAt", "firstName", "lastName"],
        StringComparer.OrdinalIgnoreCase);

    private readonly ConcurrentDictionary<string, InstanceFields> _instances = new(StringComparer.Ordinal);

    private sealed class InstanceFields
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public HashSet<string>? Known;          // from describe; null until one succeeded
        public DateTimeOffset NextDescribeAt;   // when to ask describe (again)
        public readonly ConcurrentDictionary<string, byte> Unknown = new(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The fields for a lookup by <paramref name="type"/> for this project.</summary>
    public async Task<IReadOnlyList<string>> GetFieldsAsync(string projectId, ProjectSettings settings, LeadKeyType type,
        CancellationToken cancellationToken)
    {
        var instance = await EnsureDescribedAsync(projectId, settings, cancellationToken);
        var excluded = new HashSet<string>(settings.Marketo.ExcludedFields, StringComparer.OrdinalIgnoreCase);
        var fields = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var known = instance.Known;
        foreach (var field in StandardLeadFields.All)
        {
            // id and email are how results are matched to keys: always asked for.
            var matching = field is "id" or "email";
            if (!matching && excluded.Contains(field)) continue;
            // Without a describe answer, only the fields every instance has (Marketo's default lookup fields).
            if (!matching && (known is null ? !DefaultFields.Contains(field) : !known.Contains(field))) continue;
            if (instance.Unknown.ContainsKey(field)) continue;
            if (seen.Add(field)) fields.Add(field);
        }
        foreach (var field in settings.Marketo.CustomFields)
        {
            if (instance.Unknown.ContainsKey(field)) continue;
            if (seen.Add(field)) fields.Add(field);
        }
        if (type == LeadKeyType.Cookie && seen.Add("cookies")) fields.Add("cookies");
        return fields;
    }

    /// <summary>Marketo answered 1006 for <paramref name="field"/>: leave it out until the next describe.</summary>
    public void MarkUnknown(ProjectSettings settings, string field)
    {
        var instance = _instances.GetOrAdd(settings.Marketo.InstanceId, _ => new InstanceFields());
        instance.Unknown.TryAdd(field, 0);
    }

    /// <summary>The project's fields Marketo does not know (custom fields and excluded ones aside), for the sync status.</summary>
    public IReadOnlyList<string> UnknownFields(ProjectSettings settings)
    {
        if (!_instances.TryGetValue(settings.Marketo.InstanceId, out var instance)) return [];
        return [.. settings.Marketo.CustomFields.Where(f => instance.Unknown.ContainsKey(f))];
    }

    private async Task<InstanceFields> EnsureDescribedAsync(string projectId, ProjectSettings settings, CancellationToken cancellationToken)
    {
        var instance = _instances.GetOrAdd(settings.Marketo.InstanceId, _ => new InstanceFields());
        if (time.GetUtcNow() < instance.NextDescribeAt) return instance;

        // One describe at a time per instance; the others wait for its answer rather than guess.
        await instance.Gate.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (now < instance.NextDescribeAt) return instance;
            var answer = await gateway.CallAsync(projectId, settings, MarketoCallPurpose.Other,
                (client, connection, ct) => client.DescribeLeadFieldsAsync(connection, ct), cancellationToken);
            if (answer.Value is { } described)
            {
                instance.Known = new HashSet<string>(described.Select(f => f.RestName), StringComparer.OrdinalIgnoreCase);
                instance.Unknown.Clear();
                instance.NextDescribeAt = now + DescribeLifetime;
            }
            else
            {
                LogDescribeFailed(settings.Marketo.InstanceId, answer.Outcome.ToString());
                instance.NextDescribeAt = now + DescribeRetry;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogDescribeError(ex, settings.Marketo.InstanceId);
            instance.NextDescribeAt = time.GetUtcNow() + DescribeRetry;
        }
        finally
        {
            instance.Gate.Release();
        }
        return instance;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Describe of lead fields on {Instance} gave no answer ({Reason}); using the standard list")]
    private partial void LogDescribeFailed(string instance, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Describe of lead fields on {Instance} failed; using the standard list")]
    private partial void LogDescribeError(Exception ex, string instance);
}
