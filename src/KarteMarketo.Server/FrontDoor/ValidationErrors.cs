namespace KarteMarketo.Server.FrontDoor;

/// <summary>
/// Collects validation errors by JSON path (<c>marketo.clientId</c>, <c>[3].userId</c>), in the order found, for the
/// <c>errors</c> member of a 400 problem (see <see cref="Problems.Validation(ValidationErrors, string?)"/>).
/// </summary>
public sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public int Count => _errors.Count;

    public bool HasErrors => _errors.Count > 0;

    /// <summary>Adds a message for a path; one path may carry several.</summary>
    public void Add(string path, string message)
    {
        if (!_errors.TryGetValue(path, out var messages)) _errors[path] = messages = [];
        if (!messages.Contains(message)) messages.Add(message);
    }

    public bool Contains(string path) => _errors.ContainsKey(path);

    /// <summary>The errors in the shape of <c>HttpValidationProblemDetails.Errors</c>.</summary>
    public Dictionary<string, string[]> ToDictionary() =>
        _errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);
}
