using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace MetaRl.Experiments;

/// <summary>
/// A report's Markdown as one self-contained HTML page: the subset our reports write (headings, paragraphs, tables,
/// lists, code spans, bold, links, images), every image inlined as a data URI, so the page needs no other file and
/// no network to be read or mailed.
/// </summary>
public static partial class HtmlReport
{
    public static string FromMarkdown(string markdown, string title, string imageDirectory)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>");
        html.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine($"<title>{WebUtility.HtmlEncode(title)}</title>");
        html.AppendLine("<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}" +
            "table{border-collapse:collapse;margin:1em 0;font-size:0.92em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}" +
            "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}" +
            "img{max-width:100%;display:block;margin:1em 0}h1{border-bottom:2px solid #ddd}h2{margin-top:1.6em;border-bottom:1px solid #eee}</style>");
        html.AppendLine("</head><body>");
        var lines = markdown.Replace("\r", "").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Trim().Length == 0) continue;
            if (line.StartsWith('#'))
            {
                int level = line.TakeWhile(c => c == '#').Count();
                string text = line[level..].Trim();
                html.AppendLine($"<h{level} id=\"{Slug(text)}\">{Inline(text, imageDirectory)}</h{level}>");
            }
            else if (line.StartsWith('|'))
            {
                var rows = new List<string>();
                for (; i < lines.Length && lines[i].StartsWith('|'); i++) rows.Add(lines[i]);
                i--;
                html.AppendLine("<table>");
                for (int r = 0; r < rows.Count; r++)
                {
                    if (r == 1 && rows[r].Replace("|", "").Replace("-", "").Replace(":", "").Trim().Length == 0) continue; // the separator row
                    var cells = rows[r].Trim().Trim('|').Split('|').Select(c => c.Trim());
                    string tag = r == 0 ? "th" : "td";
                    html.AppendLine("<tr>" + string.Concat(cells.Select(c => $"<{tag}>{Inline(c, imageDirectory)}</{tag}>")) + "</tr>");
                }
                html.AppendLine("</table>");
            }
            else if (line.StartsWith("- "))
            {
                html.AppendLine("<ul>");
                for (; i < lines.Length && lines[i].StartsWith("- "); i++) html.AppendLine($"<li>{Inline(lines[i][2..], imageDirectory)}</li>");
                i--;
                html.AppendLine("</ul>");
            }
            else if (line.StartsWith("!["))
                html.AppendLine($"<figure>{Inline(line, imageDirectory)}</figure>");
            else
            {
                var paragraph = new List<string>();
                for (; i < lines.Length && lines[i].Trim().Length > 0 && !lines[i].StartsWith('#') && !lines[i].StartsWith('|') && !lines[i].StartsWith("- ") && !lines[i].StartsWith("!["); i++)
                    paragraph.Add(lines[i]);
                i--;
                html.AppendLine($"<p>{Inline(string.Join(" ", paragraph), imageDirectory)}</p>");
            }
        }
        html.AppendLine("</body></html>");
        return html.ToString();
    }

    /// <summary>Inline Markdown: images (inlined from <paramref name="imageDirectory"/>), links, code spans and bold.</summary>
    static string Inline(string text, string imageDirectory)
    {
        var encoded = WebUtility.HtmlEncode(text);
        encoded = Image().Replace(encoded, m =>
        {
            string file = WebUtility.HtmlDecode(m.Groups[2].Value), path = Path.Combine(imageDirectory, file);
            if (!File.Exists(path)) return $"[missing figure {m.Groups[2].Value}]";
            string type = Path.GetExtension(file).ToLowerInvariant() == ".svg" ? "image/svg+xml" : "image/png";
            return $"<img alt=\"{m.Groups[1].Value}\" src=\"data:{type};base64,{Convert.ToBase64String(File.ReadAllBytes(path))}\">";
        });
        encoded = Link().Replace(encoded, "<a href=\"$2\">$1</a>");
        encoded = Code().Replace(encoded, "<code>$1</code>");
        return Bold().Replace(encoded, "<strong>$1</strong>");
    }

    static string Slug(string heading) => Regex.Replace(heading.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');

    [GeneratedRegex(@"!\[([^\]]*)\]\(([^)]+)\)")] private static partial Regex Image();
    [GeneratedRegex(@"(?<!!)\[([^\]]+)\]\(([^)]+)\)")] private static partial Regex Link();
    [GeneratedRegex(@"`([^`]+)`")] private static partial Regex Code();
    [GeneratedRegex(@"\*\*([^*]+)\*\*")] private static partial Regex Bold();
}
