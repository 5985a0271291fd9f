namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>
/// Stores writes for KARTE in the shared outbox (kind <c>karte</c>), and the last user-info hash per user
/// (<c>karte_user_values</c>) for <c>writeOnlyOnChange</c>. Storing is all it does: the caller wakes the dispatcher
/// (<see cref="KarteWriteBackService"/> does both). Throws <see cref="Storage.StoreUnavailableException"/> when the
/// database cannot be reached.
/// </summary>
public interface IKarteWriteQueue
{
    /// <summary>Queues the writes in order (user info only where it changed, see <see cref="KarteQueuedWrite"/>);
    /// returns how many rows were added.</summary>
    Task<int> EnqueueAsync(string projectId, IReadOnlyList<KarteQueuedWrite> writes, DateTimeOffset now,
        CancellationToken cancellationToken = default);

    /// <summary>Forgets a user's remembered hash (KARTE refused the write for good), so the next sync writes again.</summary>
    Task ForgetValuesAsync(string projectId, string userId, CancellationToken cancellationToken = default);
}
