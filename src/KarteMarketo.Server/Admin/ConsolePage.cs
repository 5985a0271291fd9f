using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace KarteMarketo.Server.Admin;

/// <summary>What every console page shares: its language and the labels in it, and the project in the path.</summary>
public abstract class ConsolePage : PageModel
{
    /// <summary><c>ja</c> or <c>en</c>.</summary>
    public string Lang { get; private set; } = ConsoleLanguage.English;

    /// <summary>The label in the page's language.</summary>
    public string T(string english) => ConsoleText.Get(Lang, english);

    /// <summary>The page title (shown in the header and the tab).</summary>
    public string Title { get; protected set; } = "KarteMarketo console";

    /// <summary>The project whose pages these are, where the path names one.</summary>
    public string? ProjectId { get; protected set; }

    /// <summary>The path of this page with <c>?lang=</c> set, for the language switch.</summary>
    public string LanguageLink(string language) => $"{Request.PathBase}{Request.Path}?{ConsoleLanguage.QueryKey}={language}";

    public override void OnPageHandlerExecuting(PageHandlerExecutingContext context)
    {
        Lang = ConsoleLanguage.Resolve(HttpContext);
        base.OnPageHandlerExecuting(context);
    }
}
