global using Orleans;
global using Orleans.Concurrency;
global using Orleans.Runtime;
global using KarteMarketo.Contracts;
global using KarteMarketo.Contracts.Projects;
global using KarteMarketo.Contracts.Quota;
