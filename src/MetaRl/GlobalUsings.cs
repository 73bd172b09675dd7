// The library's own layers every file may use; third-party and higher layers are imported where they are used.
global using MetaRl.Configuration;
global using MetaRl.Core;
global using MetaRl.Envs;
global using MetaRl.Policies;
global using MetaRl.Sampling;
global using MetaRl.Torch;
