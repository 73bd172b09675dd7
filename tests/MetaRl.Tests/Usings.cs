global using Xunit;
global using MetaRl.Core;
