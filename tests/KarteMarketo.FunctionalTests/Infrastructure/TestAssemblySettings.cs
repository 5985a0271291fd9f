// Two cores: test classes each start a whole host; running them one at a time keeps timings sane.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
