/**
 * Edit summaries as MediaWiki shows them: `/* Section *\/` becomes "→Section", linked to the
 * section; `[[Target]]` and `[[Target|label]]` become links to this wiki's pages; everything
 * else stays text.
 *
 * Two steps, so that nothing from the event is ever parsed as HTML:
 * - parse() turns the summary into a structured form, a list of parts
 *   { text } | { section, more } | { target, fragment, label };
 * - render() builds DOM nodes from those parts with createElement/createTextNode, and sets no
 *   attribute but `href` (only to a URL the caller builds from a valid title of this wiki),
 *   `class` and `dir`.
 *
 * Only targets that are titles of this wiki become links: a prefix that looks like a URL
 * scheme or an interwiki (`javascript:`, `http:`, `w:`) and is not one of this wiki's
 * namespaces stays text, and so does anything mw.Title would refuse.
 *
 * Written in ES5 syntax, without MediaWiki globals: node unit tests load it as it is.
 */
'use strict';

// MediaWiki's Linker::formatAutocomments and formatLinksInComment, by their grammar: a
// target has no `]` or `|`; a label may hold single `]`s.
var AUTOCOMMENT = /\/\*\s*([\s\S]*?)\s*\*\//g;
var LINK = /\[\[\s*:?([^\]|]+)(?:\|((?:\]?[^\]])*))?\]\]/g;
var SCHEME_LIKE = /^\s*:?\s*([a-z][a-z0-9+.\- _]*?)\s*:/i;
var SAFE_HREF = /^(\/|https?:\/\/)/i;

/**
 * @param {string} target What stands between `[[` and `|` or `]]`
 * @param {Object} options See parse()
 * @return {Object|null} { title, fragment } or null when it is not a title of this wiki
 */
function wikiTarget( target, options ) {
	var m, prefix, hash, title, fragment;
	target = target.replace( /^\s*:?\s*/, '' ).replace( /\s+$/, '' );
	m = SCHEME_LIKE.exec( target );
	if ( m ) {
		prefix = m[ 1 ].toLowerCase().replace( / /g, '_' );
		if ( !Object.prototype.hasOwnProperty.call( options.namespaces || {}, prefix ) ) {
			return null;
		}
	}
	hash = target.indexOf( '#' );
	title = hash === -1 ? target : target.slice( 0, hash );
	fragment = hash === -1 ? '' : target.slice( hash + 1 );
	if ( title === '' && hash !== -1 ) {
		// [[#Section]]: a section of the page the summary belongs to.
		title = options.page || '';
	}
	if ( title === '' || !options.isTitle( title ) ) {
		return null;
	}
	return { title: title, fragment: fragment };
}

/**
 * @param {string} text
 * @param {Object} options See parse()
 * @param {Object[]} parts Appended to
 */
function parseLinks( text, options, parts ) {
	var m, target, last = 0;
	LINK.lastIndex = 0;
	while ( ( m = LINK.exec( text ) ) !== null ) {
		target = wikiTarget( m[ 1 ], options );
		if ( !target ) {
			continue;
		}
		if ( m.index > last ) {
			parts.push( { text: text.slice( last, m.index ) } );
		}
		parts.push( {
			target: target.title,
			fragment: target.fragment,
			label: m[ 2 ] !== undefined && m[ 2 ] !== '' ? m[ 2 ] : m[ 1 ].replace( /^\s*:/, '' )
		} );
		last = LINK.lastIndex;
	}
	if ( last < text.length ) {
		parts.push( { text: text.slice( last ) } );
	}
}

/**
 * @param {string} summary
 * @param {Object} options
 * @param {string} [options.page] The page the summary belongs to (section links point there)
 * @param {Object} [options.namespaces] This wiki's namespace names and aliases, lowercase with
 *  underscores, as keys (wgNamespaceIds)
 * @param {Function} options.isTitle Whether a string is a valid title of this wiki
 * @return {Object[]} parts
 */
function parse( summary, options ) {
	var m, parts = [], last = 0, text = typeof summary === 'string' ? summary : '';
	AUTOCOMMENT.lastIndex = 0;
	while ( ( m = AUTOCOMMENT.exec( text ) ) !== null ) {
		parseLinks( text.slice( last, m.index ), options, parts );
		last = AUTOCOMMENT.lastIndex;
		// The separator after the section stands for the blank that follows it.
		while ( /\s/.test( text.charAt( last ) ) ) {
			last++;
		}
		parts.push( { section: m[ 1 ], more: last < text.length } );
	}
	parseLinks( text.slice( last ), options, parts );
	return parts;
}

/**
 * @param {Object[]} parts From parse()
 * @param {Object} options
 * @param {Document} options.document
 * @param {string} [options.page] The page the summary belongs to
 * @param {Function} options.url ( title, fragment ) → URL of a page of this wiki
 * @param {string} [options.colon] Text between a section and the rest (': ')
 * @return {DocumentFragment}
 */
function render( parts, options ) {
	var doc = options.document,
		out = doc.createDocumentFragment();

	function link( title, fragment, label ) {
		var a, href = options.url( title, fragment );
		if ( typeof href !== 'string' || !SAFE_HREF.test( href ) ) {
			return doc.createTextNode( label );
		}
		a = doc.createElement( 'a' );
		a.setAttribute( 'href', href );
		a.appendChild( doc.createTextNode( label ) );
		return a;
	}

	parts.forEach( function ( part ) {
		var span;
		if ( part.section !== undefined ) {
			span = doc.createElement( 'span' );
			span.className = 'autocomment';
			span.setAttribute( 'dir', 'auto' );
			span.appendChild( options.page ?
				link( options.page, part.section, '→' + part.section ) :
				doc.createTextNode( '→' + part.section ) );
			if ( part.more ) {
				span.appendChild( doc.createTextNode( options.colon || ': ' ) );
			}
			out.appendChild( span );
		} else if ( part.target !== undefined ) {
			out.appendChild( link( part.target, part.fragment, part.label ) );
		} else {
			out.appendChild( doc.createTextNode( part.text ) );
		}
	} );
	return out;
}

module.exports = {
	parse: parse,
	render: render
};
