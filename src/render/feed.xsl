<?xml version="1.0" encoding="utf-8"?>
<!--
  wardfeed: our RSS 2.0 and Atom feeds, shown as a page when a browser opens them.

  A feed names this file in an <?xml-stylesheet?> instruction; feed readers ignore it and read the
  XML as always. A browser turns the feed into the page below: what the feed is, the address to
  copy into a feed reader, and the entries. Every value goes in with value-of or an attribute
  template (escaped by the processor), never with disable-output-escaping, and only http(s) links
  are linked, so nothing in a feed can become markup or script here. No JavaScript.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="atom dc">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat" indent="no"/>

  <xsl:variable name="is-rss" select="boolean(/rss)"/>
  <xsl:variable name="self"
      select="string(/rss/channel/atom:link[@rel='self']/@href | /atom:feed/atom:link[@rel='self']/@href)"/>
  <xsl:variable name="title" select="string(/rss/channel/title | /atom:feed/atom:title)"/>
  <xsl:variable name="description"
      select="string(/rss/channel/description | /atom:feed/atom:subtitle)"/>
  <!-- The feed's address without its extension: the other formats and the dashboard hang off it. -->
  <xsl:variable name="stem">
    <xsl:choose>
      <xsl:when test="substring($self, string-length($self) - 3) = '.rss'">
        <xsl:value-of select="substring($self, 1, string-length($self) - 4)"/>
      </xsl:when>
      <xsl:when test="substring($self, string-length($self) - 4) = '.atom'">
        <xsl:value-of select="substring($self, 1, string-length($self) - 5)"/>
      </xsl:when>
    </xsl:choose>
  </xsl:variable>
  <xsl:variable name="dashboard">
    <xsl:if test="contains($self, '/feeds/')">
      <xsl:value-of select="concat(substring-before($self, '/feeds/'), '/')"/>
    </xsl:if>
  </xsl:variable>
  <xsl:variable name="entries" select="/rss/channel/item | /atom:feed/atom:entry"/>

  <xsl:template match="/">
    <html lang="vi">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> — nguồn cấp tin</title>
        <xsl:if test="$self != ''">
          <link rel="alternate" href="{$self}" title="{$title}">
            <xsl:attribute name="type">
              <xsl:choose>
                <xsl:when test="$is-rss">application/rss+xml</xsl:when>
                <xsl:otherwise>application/atom+xml</xsl:otherwise>
              </xsl:choose>
            </xsl:attribute>
          </link>
        </xsl:if>
        <style>
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #f3f5f7;
  --brand: #0b3563; --flag: #c8102e; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 16px/1.55 system-ui, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial,
    "Liberation Sans", "DejaVu Sans", sans-serif; }
a { color: #0a4f9e; }
a:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
.wrap { max-width: 860px; margin: 0 auto; padding: 0 20px; }
.page-header { background: var(--brand); color: #fff; border-bottom: 4px solid var(--flag); }
.page-header .wrap { padding-top: 18px; padding-bottom: 18px; }
.eyebrow { margin: 0; font-size: 13px; letter-spacing: .04em; text-transform: uppercase;
  color: #b9cbe0; }
h1 { margin: 2px 0 4px; font-size: 1.7rem; line-height: 1.25; }
.page-header p.lead { margin: 0; color: #d5e0ee; }
main { padding: 20px 0 28px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 16px 18px;
  margin-bottom: 20px; }
.subscribe { border-left: 5px solid #1f7a45; }
h2 { font-size: 1.2rem; margin: 0 0 8px; }
.address { margin: 10px 0; padding: 10px 12px; background: #f6f8fa; border: 1px dashed #8c959f;
  border-radius: 4px; font: 15px/1.4 ui-monospace, "DejaVu Sans Mono", monospace;
  overflow-wrap: anywhere; user-select: all; -webkit-user-select: all; }
.hint { margin: 0; color: var(--muted); font-size: 14px; }
.formats { margin: 8px 0 0; font-size: 14px; }
ol.entries { list-style: none; margin: 0; padding: 0; }
ol.entries li { padding: 14px 0; border-top: 1px solid var(--line); }
ol.entries li:first-child { border-top: 0; padding-top: 4px; }
ol.entries h3 { margin: 0 0 2px; font-size: 1.05rem; line-height: 1.35; }
.meta { margin: 0 0 4px; color: var(--muted); font-size: 13.5px; font-variant-numeric: tabular-nums; }
.summary { margin: 0; }
.empty { color: var(--muted); }
.page-footer { color: var(--muted); font-size: 13px; padding-bottom: 24px; }
@media (max-width: 600px) {
  body { font-size: 15px; }
  .wrap { padding: 0 12px; }
  h1 { font-size: 1.35rem; }
  .panel { padding: 12px; }
}
        </style>
      </head>
      <body>
        <header class="page-header">
          <div class="wrap">
            <p class="eyebrow">
              <xsl:choose>
                <xsl:when test="$is-rss">Nguồn cấp tin RSS</xsl:when>
                <xsl:otherwise>Nguồn cấp tin Atom</xsl:otherwise>
              </xsl:choose>
            </p>
            <h1><xsl:value-of select="$title"/></h1>
            <xsl:if test="$description != ''">
              <p class="lead"><xsl:value-of select="$description"/></p>
            </xsl:if>
          </div>
        </header>
        <main class="wrap">
          <section class="panel subscribe" aria-labelledby="subscribe-title">
            <h2 id="subscribe-title">Theo dõi bằng trình đọc tin</h2>
            <p class="hint">Trang này là một nguồn cấp tin. Sao chép địa chỉ dưới đây vào trình đọc
              tin của bạn (Feedly, Inoreader, Thunderbird, NetNewsWire, newsboat…) để nhận bài mới
              tự động:</p>
            <p class="address" id="feed-address"><xsl:value-of select="$self"/></p>
            <xsl:if test="$stem != ''">
              <p class="formats">Định dạng khác:
                <a href="{$stem}.rss">RSS</a> ·
                <a href="{$stem}.atom">Atom</a> ·
                <a href="{$stem}.json">JSON Feed</a>
                <xsl:if test="$dashboard != ''">
                  — <a href="{$dashboard}">Bảng theo dõi các nguồn tin</a>
                </xsl:if>
              </p>
            </xsl:if>
          </section>
          <section class="panel" aria-labelledby="entries-title">
            <h2 id="entries-title">
              <xsl:choose>
                <xsl:when test="count($entries) = 0">Chưa có bài nào</xsl:when>
                <xsl:otherwise><xsl:value-of select="count($entries)"/> bài mới nhất</xsl:otherwise>
              </xsl:choose>
            </h2>
            <xsl:choose>
              <xsl:when test="count($entries) = 0">
                <p class="empty">Nguồn cấp này chưa có bài nào.</p>
              </xsl:when>
              <xsl:otherwise>
                <ol class="entries">
                  <xsl:apply-templates select="$entries"/>
                </ol>
              </xsl:otherwise>
            </xsl:choose>
          </section>
        </main>
        <footer class="page-footer wrap">
          <p>Thời gian theo giờ Việt Nam (UTC+07:00). Trình đọc tin nhận nguồn cấp gốc; trang này
            chỉ là cách trình duyệt hiển thị nó. Do wardfeed tạo, không dùng JavaScript.</p>
        </footer>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="item | atom:entry">
    <xsl:variable name="link" select="string(link | atom:link[@rel='alternate']/@href)"/>
    <xsl:variable name="publisher" select="string(dc:creator | atom:author/atom:name)"/>
    <li>
      <h3>
        <xsl:choose>
          <xsl:when test="starts-with($link, 'https://') or starts-with($link, 'http://')">
            <a href="{$link}"><xsl:value-of select="title | atom:title"/></a>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="title | atom:title"/></xsl:otherwise>
        </xsl:choose>
      </h3>
      <p class="meta">
        <xsl:choose>
          <xsl:when test="pubDate"><xsl:call-template name="rfc822"><xsl:with-param name="date" select="string(pubDate)"/></xsl:call-template></xsl:when>
          <xsl:when test="atom:published"><xsl:call-template name="rfc3339"><xsl:with-param name="date" select="string(atom:published)"/></xsl:call-template></xsl:when>
          <xsl:when test="atom:updated"><xsl:call-template name="rfc3339"><xsl:with-param name="date" select="string(atom:updated)"/></xsl:call-template></xsl:when>
        </xsl:choose>
        <xsl:if test="$publisher != ''"> · <xsl:value-of select="$publisher"/></xsl:if>
      </p>
      <xsl:choose>
        <!-- RSS description is HTML; ours is escaped plain text: undo the escaping, keep it text. -->
        <xsl:when test="description">
          <p class="summary"><xsl:call-template name="unescape"><xsl:with-param name="text" select="string(description)"/></xsl:call-template></p>
        </xsl:when>
        <xsl:when test="atom:summary">
          <p class="summary"><xsl:value-of select="atom:summary"/></p>
        </xsl:when>
      </xsl:choose>
    </li>
  </xsl:template>

  <!-- "Wed, 04 Jan 2023 10:09:00 +0700" as "04/01/2023 10:09". -->
  <xsl:template name="rfc822">
    <xsl:param name="date"/>
    <xsl:variable name="month" select="substring($date, 9, 3)"/>
    <xsl:variable name="number"
        select="string-length(substring-before('JanFebMarAprMayJunJulAugSepOctNovDec', $month)) div 3 + 1"/>
    <time>
      <xsl:value-of select="concat(substring($date, 6, 2), '/', format-number($number, '00'), '/',
          substring($date, 13, 4), ' ', substring($date, 18, 5))"/>
    </time>
  </xsl:template>

  <!-- "2023-01-04T10:09:00+07:00" as "04/01/2023 10:09". -->
  <xsl:template name="rfc3339">
    <xsl:param name="date"/>
    <time datetime="{$date}">
      <xsl:value-of select="concat(substring($date, 9, 2), '/', substring($date, 6, 2), '/',
          substring($date, 1, 4), ' ', substring($date, 12, 5))"/>
    </time>
  </xsl:template>

  <!-- Undoes the five escapes wardfeed writes into RSS descriptions (&amp; &lt; &gt; &quot; &#39;). -->
  <xsl:template name="unescape">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="contains($text, '&amp;')">
        <xsl:value-of select="substring-before($text, '&amp;')"/>
        <xsl:variable name="rest" select="substring-after($text, '&amp;')"/>
        <xsl:variable name="entity" select="substring-before($rest, ';')"/>
        <xsl:choose>
          <xsl:when test="$entity = 'amp'">&amp;</xsl:when>
          <xsl:when test="$entity = 'lt'">&lt;</xsl:when>
          <xsl:when test="$entity = 'gt'">&gt;</xsl:when>
          <xsl:when test="$entity = 'quot'">"</xsl:when>
          <xsl:when test="$entity = '#39'">'</xsl:when>
          <xsl:otherwise>&amp;</xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="unescape">
          <xsl:with-param name="text">
            <xsl:choose>
              <xsl:when test="$entity = 'amp' or $entity = 'lt' or $entity = 'gt' or $entity = 'quot' or $entity = '#39'">
                <xsl:value-of select="substring-after($rest, ';')"/>
              </xsl:when>
              <xsl:otherwise><xsl:value-of select="$rest"/></xsl:otherwise>
            </xsl:choose>
          </xsl:with-param>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
