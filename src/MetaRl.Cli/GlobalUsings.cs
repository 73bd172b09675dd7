// What every command of the tool uses: the command-line parser, the console, and the library's layers.
global using System.CommandLine;
global using System.Globalization;
global using MetaRl.Algorithms;
global using MetaRl.Configuration;
global using MetaRl.Core;
global using MetaRl.Envs;
global using MetaRl.Evaluation;
global using MetaRl.Experiments;
global using MetaRl.Torch;
global using Spectre.Console;
