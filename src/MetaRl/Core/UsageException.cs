namespace MetaRl.Core;

/// <summary>A mistake the user can fix (unknown name, bad config value): reported in one line, never as a stack trace.</summary>
public class UsageException(string message) : Exception(message);
