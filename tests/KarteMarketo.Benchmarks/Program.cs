// The benchmark harness (issue 7) lives here; see README "Performance".
Console.Error.WriteLine("usage: dotnet run -c Release --project tests/KarteMarketo.Benchmarks -- <ingest|sync|memory|quota> [options]");
return 2;
