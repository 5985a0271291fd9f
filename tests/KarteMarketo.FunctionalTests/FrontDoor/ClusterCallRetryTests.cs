using System.Reflection;
using KarteMarketo.Server.FrontDoor;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.Serialization.Invocation;
using Xunit;

namespace KarteMarketo.FunctionalTests.FrontDoor;

/// <summary>
/// The front door's grain-call retry (<see cref="ClusterCallRetry"/>) on a scripted call: what the cluster answers
/// each try is given, the clock is fake. The multi-process proof is HostFailoverTests.
/// </summary>
public sealed class ClusterCallRetryTests
{
    private static readonly ClusterRetryOptions Options = new()
    {
        Deadline = TimeSpan.FromSeconds(10),
        FirstDelay = TimeSpan.FromMilliseconds(50),
        MaxDelay = TimeSpan.FromMilliseconds(500),
    };

    private readonly FakeTimeProvider clock = new();

    [Fact]
    public async Task A_call_rejected_while_its_silo_is_unreachable_is_tried_again_until_it_is_answered()
    {
        var call = new ScriptedCall(
            Rejection("Exception while sending message: unable to connect"),
            new SiloUnavailableException("declared dead"),
            null);

        await RunAsync(call);

        Assert.Equal(3, call.Tries);
        Assert.Null(call.Response!.Exception);
    }

    [Fact]
    public async Task A_connection_failure_thrown_by_the_send_is_tried_again()
    {
        var call = new ScriptedCall(new ConnectionFailedException("refused"), null) { Throw = true };

        await RunAsync(call);

        Assert.Equal(2, call.Tries);
    }

    [Fact]
    public async Task Orleans_system_calls_are_left_to_Orleans()
    {
        // A directory partition on a dead silo stays on it: trying again would only hold the outer call.
        var call = new ScriptedCall(Rejection("unreachable"), null) { InterfaceName = "Orleans.GrainDirectory.IDhtGrainDirectory" };

        await RunAsync(call);

        Assert.Equal(1, call.Tries);
    }

    [Fact]
    public async Task Other_failures_are_not_tried_again()
    {
        var call = new ScriptedCall(new InvalidOperationException("the grain refused"));

        await RunAsync(call);

        Assert.Equal(1, call.Tries);
        Assert.IsType<InvalidOperationException>(call.Response!.Exception);
    }

    [Fact]
    public async Task A_silo_unreachable_beyond_the_deadline_fails_the_call_at_the_deadline()
    {
        var call = new ScriptedCall(Enumerable.Repeat<Exception?>(Rejection("unreachable"), 1000).ToArray());
        var started = clock.GetUtcNow();

        await RunAsync(call);

        Assert.IsType<OrleansMessageRejectionException>(call.Response!.Exception);
        var waited = clock.GetUtcNow() - started;
        Assert.InRange(waited, Options.Deadline, Options.Deadline + Options.MaxDelay);
        // Back-off: 50 ms doubling to 500 ms, so about 25 tries in 10 s, not hundreds.
        Assert.InRange(call.Tries, 10, 40);
    }

    [Fact]
    public async Task A_call_that_waited_past_the_deadline_for_its_silo_to_be_declared_dead_gets_one_more_try()
    {
        var call = new ScriptedCall(new SiloUnavailableException("declared dead"), new SiloUnavailableException("again"), null);
        clock.Advance(TimeSpan.FromSeconds(30));    // the request's deadline passed while the call waited
        ClusterCallRetry.Enter(clock.GetTimestamp() - (long)(TimeSpan.FromSeconds(30).TotalSeconds * clock.TimestampFrequency), CancellationToken.None);

        await RunAsync(call);

        Assert.Equal(2, call.Tries);    // one more try, not a new deadline
        Assert.IsType<SiloUnavailableException>(call.Response!.Exception);
    }

    [Fact]
    public void Unreachable_silos_are_recognised_also_when_wrapped()
    {
        Assert.True(ClusterCallRetry.IsUnreachable(new AggregateException(new SiloUnavailableException())));
        Assert.True(ClusterCallRetry.IsUnreachable(new OrleansException("outer", new ConnectionFailedException("inner"))));
        Assert.False(ClusterCallRetry.IsUnreachable(new TimeoutException()));
    }

    /// <summary>What Orleans raises for a message it could not deliver (its constructors are internal).</summary>
    private static OrleansMessageRejectionException Rejection(string message) =>
        (OrleansMessageRejectionException)Activator.CreateInstance(typeof(OrleansMessageRejectionException),
            BindingFlags.NonPublic | BindingFlags.Instance, null, [message], null)!;

    /// <summary>Runs the filter on <paramref name="call"/>, advancing the fake clock whenever it waits.</summary>
    private async Task RunAsync(ScriptedCall call)
    {
        var filter = new ClusterCallRetry(Microsoft.Extensions.Options.Options.Create(Options), clock, NullLogger<ClusterCallRetry>.Instance);
        var run = filter.Invoke(call);
        for (var i = 0; i < 10_000 && !run.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(10));
            await Task.Yield();
        }
        Assert.True(run.IsCompleted, "the filter never finished");
        await run;
    }

    /// <summary>An outgoing call from outside any grain whose tries fail (or not) as scripted.</summary>
    private sealed class ScriptedCall(params Exception?[] outcomes) : IOutgoingGrainCallContext
    {
        public int Tries { get; private set; }

        /// <summary>Throw the failure from <see cref="Invoke"/> instead of carrying it in the response.</summary>
        public bool Throw { get; init; }

        public Task Invoke()
        {
            var outcome = outcomes[Math.Min(Tries, outcomes.Length - 1)];
            Tries++;
            if (outcome is not null && Throw) throw outcome;
            Response = outcome is null ? Response.FromResult(42) : Response.FromException(outcome);
            return Task.CompletedTask;
        }

        public Response? Response { get; set; }
        public object? Result { get => Response?.Result; set => Response = Response.FromResult(value); }
        public IGrainContext? SourceContext => null;
        public object Grain => this;
        public MethodInfo InterfaceMethod => typeof(ScriptedCall).GetMethod(nameof(Invoke))!;
        public IInvokable Request => throw new NotSupportedException();
        public GrainId? SourceId => null;
        public GrainId TargetId => default;
        public GrainInterfaceType InterfaceType => default;
        public string InterfaceName { get; init; } = "KarteMarketo.Contracts.IScripted";
        public string MethodName => "Call";
    }
}
