namespace MetaRl.Tests;

/// <summary>
/// Slow tests (learning curves that must rise, end-to-end reproductions, reference-size iterations) carry
/// [Trait(Category.Name, Category.Slow)]; `scripts/test.sh --fast` leaves them out, CI runs everything.
/// </summary>
public static class Category
{
    public const string Name = "Category", Slow = "Slow";
}
