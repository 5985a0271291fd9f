namespace KarteMarketo.Grains.Storage;

/// <summary>
/// The app's database could not be reached. The front door answers it with 503, so a request we could not store
/// is refused rather than accepted and lost.
/// </summary>
public sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);
