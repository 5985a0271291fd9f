namespace KarteMarketo.Grains.Marketo;

/// <summary>How the gateway retries transient failures; bound from <c>Marketo:Client</c> (the keys kept their names
/// when the retries moved out of the client). Every retry needs a permit of its own.</summary>
public sealed class MarketoRetryOptions
{
    /// <summary>Retries after a transient failure (502, 604, 608, 611, 713, HTTP 5xx, time-out, connection failure). 0 turns retries off.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First back-off delay; later ones double, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest back-off delay.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The wait before retry number <paramref name="retry"/> (0 for the first): exponential, ±20 % jitter so
    /// that callers failing together do not come back together, never above <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan BackoffFor(int retry, double unitRandom)
    {
        if (RetryBaseDelay <= TimeSpan.Zero) return TimeSpan.Zero;
        var exponential = RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry, 20));
        var jittered = exponential * (0.8 + 0.4 * unitRandom);
        return TimeSpan.FromMilliseconds(Math.Min(jittered, RetryMaxDelay.TotalMilliseconds));
    }
}
