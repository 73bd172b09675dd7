using System.Globalization;
using System.Reflection;
using YamlDotNet.RepresentationModel;

namespace MetaRl.Experiments;

/// <summary>
/// Marks a config property with its key (the reference implementations' names, e.g. "max-kl"), a one-line
/// description and, for numbers, the allowed range. <see cref="Config"/> binds and checks values by it.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class KeyAttribute(string name, string description) : Attribute
{
    public string Name { get; } = name;
    public string Description { get; } = description;
    public double Min { get; init; } = double.NegativeInfinity;
    public double Max { get; init; } = double.PositiveInfinity;
    /// <summary>Whether Min itself is refused (e.g. a learning rate must be > 0).</summary>
    public bool MinExclusive { get; init; }
    /// <summary>For strings: the allowed values, comma-separated.</summary>
    public string? OneOf { get; init; }
}

/// <summary>Reads config records from YAML files and key=value overrides; every mistake is a <see cref="UsageException"/> that names the key and what is allowed.</summary>
public static class Config
{
    /// <summary>The keys of a config type with their defaults and descriptions.</summary>
    public static IEnumerable<(string Key, string Description, string Default)> Describe<T>() where T : new()
    {
        var defaults = new T();
        foreach (var (p, k) in Keys(typeof(T)))
            yield return (k.Name, k.Description, Format(p.GetValue(defaults)));
    }

    /// <summary>Builds each config record from the given values; keys no record knows are refused.</summary>
    public static void Bind(IReadOnlyDictionary<string, string> values, params object[] targets)
    {
        var known = targets.SelectMany(t => Keys(t.GetType()).Select(k => k.Key.Name)).ToHashSet();
        foreach (var key in values.Keys)
            if (!known.Contains(key))
                throw new UsageException($"unknown config key '{key}'; allowed keys: {string.Join(", ", known.Order())}");
        foreach (var target in targets)
            foreach (var (p, k) in Keys(target.GetType()))
                if (values.TryGetValue(k.Name, out var text))
                    p.SetValue(target, Parse(p.PropertyType, k, text));
        foreach (var target in targets) Validate(target);
    }

    /// <summary>Checks every key's range (used for defaults and for values set in code too).</summary>
    public static void Validate(object target)
    {
        foreach (var (p, k) in Keys(target.GetType()))
        {
            var v = p.GetValue(target);
            switch (v)
            {
                case double d: CheckRange(k, d); break;
                case int i: CheckRange(k, i); break;
                case int[] list: foreach (var i in list) CheckRange(k, i); break;
                case string s when k.OneOf is { } allowed && !allowed.Split(',').Contains(s):
                    throw new UsageException($"config key '{k.Name}' must be one of {allowed.Replace(",", ", ")}; got '{s}'");
            }
        }
    }

    /// <summary>Each key of the given config records with its value there as text (defaults, for fresh records).</summary>
    public static Dictionary<string, string> Values(params object[] targets) =>
        targets.SelectMany(t => Keys(t.GetType()).Select(k => (k.Key.Name, Format(k.Prop.GetValue(t))))).ToDictionary(kv => kv.Item1, kv => kv.Item2);

    /// <summary>The resolved config as key: value lines (YAML), for a run's config.yaml.</summary>
    public static string ToYaml(params object[] targets) =>
        string.Join("", targets.SelectMany(t => Keys(t.GetType()).Select(k => $"{k.Key.Name}: {FormatYaml(k.Prop.GetValue(t))}\n")));

    /// <summary>Reads a flat YAML mapping into key -> text (lists become comma-separated).</summary>
    public static Dictionary<string, string> ReadYaml(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"config file '{path}' not found");
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e) { throw new UsageException($"config file '{path}' is not valid YAML: {e.Message}"); }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (stream.Documents.Count == 0) return result;
        if (stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new UsageException($"config file '{path}' must be a mapping of key: value lines");
        foreach (var (keyNode, valueNode) in map.Children)
        {
            string key = ((YamlScalarNode)keyNode).Value ?? "";
            result[key] = valueNode switch
            {
                YamlScalarNode s => s.Value ?? "",
                YamlSequenceNode seq => string.Join(",", seq.Children.Select(c => (c as YamlScalarNode)?.Value ?? "")),
                _ => throw new UsageException($"config key '{key}' in '{path}' must be a value or a list"),
            };
        }
        return result;
    }

    /// <summary>Parses "key=value" overrides (from --set).</summary>
    public static Dictionary<string, string> ParseOverrides(IEnumerable<string> items)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            int eq = item.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--set takes key=value, got '{item}'");
            result[item[..eq].Trim()] = item[(eq + 1)..].Trim();
        }
        return result;
    }

    static IEnumerable<(PropertyInfo Prop, KeyAttribute Key)> Keys(Type t) =>
        t.GetProperties().Select(p => (p, p.GetCustomAttribute<KeyAttribute>())).Where(x => x.Item2 is not null).Select(x => (x.p, x.Item2!));

    static object Parse(Type type, KeyAttribute k, string text)
    {
        var inv = CultureInfo.InvariantCulture;
        object? value = null;
        if (type == typeof(double) && double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d)) value = d;
        else if (type == typeof(int) && int.TryParse(text, NumberStyles.Integer, inv, out var i)) value = i;
        else if (type == typeof(long) && long.TryParse(text, NumberStyles.Integer, inv, out var l)) value = l;
        else if (type == typeof(bool) && bool.TryParse(text, out var b)) value = b;
        else if (type == typeof(string)) value = text;
        else if (type == typeof(int[]))
        {
            var parts = text.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var ints = new int[parts.Length];
            bool ok = parts.Length > 0;
            for (int j = 0; j < parts.Length && ok; j++) ok = int.TryParse(parts[j], NumberStyles.Integer, inv, out ints[j]);
            if (ok) value = ints;
        }
        return value ?? throw new UsageException($"config key '{k.Name}' takes {TypeName(type)}; got '{text}'");
    }

    static void CheckRange(KeyAttribute k, double v)
    {
        bool low = k.MinExclusive ? v > k.Min : v >= k.Min;
        if (!low || v > k.Max || double.IsNaN(v))
        {
            string range = (double.IsNegativeInfinity(k.Min), double.IsPositiveInfinity(k.Max)) switch
            {
                (false, true) => k.MinExclusive ? $"> {k.Min}" : $">= {k.Min}",
                (true, false) => $"<= {k.Max}",
                _ => $"in {(k.MinExclusive ? "(" : "[")}{k.Min}, {k.Max}]",
            };
            throw new UsageException($"config key '{k.Name}' must be {range}; got {v.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    static string TypeName(Type t) =>
        t == typeof(double) ? "a number" : t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(bool) ? "true or false" : t == typeof(int[]) ? "a list of integers (e.g. 64,64)" : "text";

    static string Format(object? v) => v switch
    {
        int[] a => string.Join(",", a),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        null => "",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    static string FormatYaml(object? v) => v is int[] a ? $"[{string.Join(", ", a)}]" : Format(v);
}
