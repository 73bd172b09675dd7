global using MetaRl.Core;
