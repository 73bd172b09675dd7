using System.Globalization;
using System.Reflection;
using YamlDotNet.RepresentationModel;

namespace MetaRl.Configuration;

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

/// <summary>A config value the user can fix: names the key (null for a file-level mistake) and what is allowed.</summary>
public sealed class ConfigException(string? key, string message) : UsageException(message)
{
    public string? Key { get; } = key;
}

/// <summary>Config values by key, each with where it came from ("config file 'maml.yaml'", "--set"), so a refusal can say where to fix it.</summary>
public sealed class ConfigValues : Dictionary<string, string>
{
    readonly Dictionary<string, string> _origins = new(StringComparer.Ordinal);

    public ConfigValues() : base(StringComparer.Ordinal) { }

    public ConfigValues(IReadOnlyDictionary<string, string> values, string? origin = null) : this() => Merge(values, origin);

    public void Set(string key, string value, string? origin)
    {
        this[key] = value;
        if (origin is null) _origins.Remove(key); else _origins[key] = origin;
    }

    /// <summary>Where the key's value came from, or null when it was set in code.</summary>
    public string? Origin(string key) => _origins.GetValueOrDefault(key);

    /// <summary>Adds every value of <paramref name="other"/> (later sources win), keeping their origins.</summary>
    public void Merge(IReadOnlyDictionary<string, string> other, string? origin = null)
    {
        foreach (var (k, v) in other) Set(k, v, origin ?? (other as ConfigValues)?.Origin(k));
    }
}

/// <summary>Reads config records from YAML files and key=value overrides; every mistake is a <see cref="ConfigException"/> that names the key and what is allowed.</summary>
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
            {
                string where = (values as ConfigValues)?.Origin(key) is { } origin ? $" (in {origin})" : "";
                string guess = Nearest(key, known) is { } near ? $"; did you mean '{near}'?" : ";";
                throw new ConfigException(key, $"unknown config key '{key}'{where}{guess} allowed keys: {string.Join(", ", known.Order())}");
            }
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
                case double[] list: foreach (var x in list) CheckRange(k, x); break;
                case string s when k.OneOf is { } allowed && !allowed.Split(',').Contains(s):
                    throw new ConfigException(k.Name, $"config key '{k.Name}' must be one of {allowed.Replace(",", ", ")}; got '{s}'");
            }
        }
    }

    /// <summary>Each key of the given config records with its value there as text (defaults, for fresh records).</summary>
    public static Dictionary<string, string> Values(params object[] targets) =>
        targets.SelectMany(t => Keys(t.GetType()).Select(k => (k.Key.Name, Format(k.Prop.GetValue(t))))).ToDictionary(kv => kv.Item1, kv => kv.Item2);

    /// <summary>The resolved config as key: value lines (YAML), for a run's config.yaml.</summary>
    public static string ToYaml(params object[] targets) =>
        string.Join("", targets.SelectMany(t => Keys(t.GetType()).Select(k => $"{k.Key.Name}: {FormatYaml(k.Prop.GetValue(t))}\n")));

    /// <summary>
    /// Reads a YAML mapping into key -> text (lists become comma-separated; a nested mapping such as
    /// pytorch-maml-rl's <c>env-kwargs: {low: -0.5}</c> becomes <c>env-kwargs.low</c>), each value marked as from this file.
    /// </summary>
    public static ConfigValues ReadYaml(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(null, $"config file '{path}' not found");
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e) { throw new ConfigException(null, $"config file '{path}' is not valid YAML: {e.Message}"); }
        var result = new ConfigValues();
        if (stream.Documents.Count == 0) return result;
        if (stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new ConfigException(null, $"config file '{path}' must be a mapping of key: value lines");
        string origin = $"config file '{path}'";
        void Read(string prefix, YamlMappingNode node)
        {
            foreach (var (keyNode, valueNode) in node.Children)
            {
                string key = prefix + (((YamlScalarNode)keyNode).Value ?? "");
                switch (valueNode)
                {
                    case YamlScalarNode s: result.Set(key, s.Value ?? "", origin); break;
                    case YamlSequenceNode seq: result.Set(key, string.Join(",", seq.Children.Select(c => (c as YamlScalarNode)?.Value ?? "")), origin); break;
                    case YamlMappingNode inner: Read(key + ".", inner); break;
                    default: throw new ConfigException(key, $"config key '{key}' in '{path}' must be a value, a list or a mapping");
                }
            }
        }
        Read("", map);
        return result;
    }

    /// <summary>Parses "key=value" overrides (from --set).</summary>
    public static ConfigValues ParseOverrides(IEnumerable<string> items)
    {
        var result = new ConfigValues();
        foreach (var item in items)
        {
            int eq = item.IndexOf('=');
            if (eq <= 0) throw new ConfigException(null, $"--set takes key=value, got '{item}'");
            result.Set(item[..eq].Trim(), item[(eq + 1)..].Trim(), "--set");
        }
        return result;
    }

    /// <summary>The known key closest to a mistyped one (edit distance, with '_' read as '-'), if any is close enough to be a typo.</summary>
    public static string? Nearest(string key, IEnumerable<string> known)
    {
        string k = key.Replace('_', '-').ToLowerInvariant();
        var best = known.Select(n => (Name: n, Distance: EditDistance(k, n))).OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal).FirstOrDefault();
        return best.Name is not null && best.Distance <= Math.Max(2, k.Length / 3) ? best.Name : null;
    }

    static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
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
        else if (type.IsEnum) value = Enum.GetValues(type).Cast<object>().FirstOrDefault(e => string.Equals(EnumName(e), text.Trim(), StringComparison.OrdinalIgnoreCase));
        else if (type == typeof(double[]))
        {
            // A list of numbers; empty ("" or []) is a valid list.
            var parts = text.Trim().Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var xs = new double[parts.Length];
            bool ok = true;
            for (int j = 0; j < parts.Length && ok; j++) ok = double.TryParse(parts[j], NumberStyles.Float, inv, out xs[j]) && double.IsFinite(xs[j]);
            if (ok) value = xs;
        }
        else if (type == typeof(int[]))
        {
            var parts = text.Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var ints = new int[parts.Length];
            bool ok = parts.Length > 0;
            for (int j = 0; j < parts.Length && ok; j++) ok = int.TryParse(parts[j], NumberStyles.Integer, inv, out ints[j]);
            if (ok) value = ints;
        }
        return value ?? throw new ConfigException(k.Name, type.IsEnum
            ? $"config key '{k.Name}' must be {TypeName(type)}; got '{text}'"
            : $"config key '{k.Name}' takes {TypeName(type)}; got '{text}'");
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
            throw new ConfigException(k.Name, $"config key '{k.Name}' must be {range}; got {v.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    static string TypeName(Type t) => t.IsEnum ? $"one of {string.Join(", ", Enum.GetValues(t).Cast<object>().Select(EnumName))}" :
        t == typeof(double) ? "a number" : t == typeof(int) || t == typeof(long) ? "an integer" : t == typeof(bool) ? "true or false" : t == typeof(int[]) ? "a list of integers (e.g. 64,64)" : t == typeof(double[]) ? "a list of numbers (e.g. 1,1,0.5)" : "text";

    static string Format(object? v) => v switch
    {
        int[] a => string.Join(",", a),
        double[] a => string.Join(",", a.Select(x => x.ToString("R", CultureInfo.InvariantCulture))),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        Enum e => EnumName(e),
        null => "",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>An enum member as a config value: LayerNorm -> layer-norm (the reference implementations' spelling).</summary>
    public static string EnumName(object member) =>
        string.Concat(member.ToString()!.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));

    static string FormatYaml(object? v) => v switch
    {
        int[] a => $"[{string.Join(", ", a)}]",
        double[] a => $"[{string.Join(", ", a.Select(x => x.ToString("R", CultureInfo.InvariantCulture)))}]",
        _ => Format(v),
    };
}
