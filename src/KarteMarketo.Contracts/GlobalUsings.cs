global using Orleans;
global using Orleans.Concurrency;
global using KarteMarketo.Contracts.Projects;
