global using KarteMarketo.Server.FrontDoor;
global using KarteMarketo.Server.Hosting;
