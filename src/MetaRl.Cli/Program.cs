using MetaRl.Cli;

return Cli.Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected);
