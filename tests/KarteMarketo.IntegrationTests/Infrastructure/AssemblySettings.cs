// Integration tests start real processes and clusters on a small machine: one class at a time keeps timings honest
// and avoids starving hosts of CPU during start-up.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
