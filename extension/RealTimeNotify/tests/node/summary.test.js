// summary.js: edit summaries as MediaWiki shows them, built as DOM nodes, with hostile and
// tricky input. jsdom stands in for the browser's document.
'use strict';
const { test } = require( 'node:test' );
const assert = require( 'node:assert/strict' );
const { JSDOM } = require( 'jsdom' );
const { load } = require( './load.js' );

const { parse, render } = load( 'summary.js' );
const plain = ( x ) => JSON.parse( JSON.stringify( x ) );

// What mw.Title refuses (MediaWiki's $wgLegalTitleChars leaves these out), in short.
const isTitle = ( t ) => t.trim() !== '' && !/[<>[\]{}|\u0000-\u001f\u007f]/.test( t ) && t.length <= 255;
const namespaces = { user: 2, user_talk: 3, talk: 1, category: 14, file: 6, project: 4 };
const url = ( title, fragment ) => '/index.php?title=' + encodeURIComponent( title.replace( / /g, '_' ) ) +
	( fragment ? '#' + encodeURIComponent( fragment ) : '' );

/** The summary as an element of a fresh document, and that document. */
function show( summary, page = 'Main Page' ) {
	const { window } = new JSDOM( '<!doctype html><div id="s"></div>' );
	const el = window.document.getElementById( 's' );
	el.appendChild( render( parse( summary, { page, namespaces, isTitle } ), { document: window.document, page, url } ) );
	return el;
}

/** Every element below el: only <a href> and <span class="autocomment" dir="auto">, nothing else. */
function assertOnlySafeNodes( el ) {
	for ( const node of el.querySelectorAll( '*' ) ) {
		const attrs = [ ...node.attributes ].map( ( a ) => a.name ).sort();
		if ( node.tagName === 'A' ) {
			assert.deepEqual( attrs, [ 'href' ] );
			assert.match( node.getAttribute( 'href' ), /^\/index\.php\?title=/ );
		} else {
			assert.equal( node.tagName, 'SPAN' );
			assert.deepEqual( attrs, [ 'class', 'dir' ] );
		}
	}
}

test( 'the issue\'s example: a section, a piped link and a plain link', () => {
	const el = show( '/* Getting started */ fixed a [[Typo|typo]] per [[User talk:Alice]]', 'Help' );
	assert.equal( el.textContent, '→Getting started: fixed a typo per User talk:Alice' );
	const links = [ ...el.querySelectorAll( 'a' ) ].map( ( a ) => [ a.textContent, a.getAttribute( 'href' ) ] );
	assert.deepEqual( links, [
		[ '→Getting started', '/index.php?title=Help#Getting%20started' ],
		[ 'typo', '/index.php?title=Typo' ],
		[ 'User talk:Alice', '/index.php?title=User_talk%3AAlice' ]
	] );
	assert.equal( el.querySelector( '.autocomment' ).getAttribute( 'dir' ), 'auto' );
	assertOnlySafeNodes( el );
} );

test( 'parse() gives the structured form', () => {
	assert.deepEqual( plain( parse( '/* S */ a [[B|c]]', { namespaces, isTitle } ) ), [
		{ section: 'S', more: true },
		{ text: 'a ' },
		{ target: 'B', fragment: '', label: 'c' }
	] );
	assert.deepEqual( plain( parse( '/* Only a section */', { namespaces, isTitle } ) ),
		[ { section: 'Only a section', more: false } ] );
	assert.deepEqual( plain( parse( '', { namespaces, isTitle } ) ), [] );
	assert.deepEqual( plain( parse( undefined, { namespaces, isTitle } ) ), [] );
} );

test( 'HTML in a summary is text, wherever it stands', () => {
	for ( const s of [
		'<img src=x onerror=alert(1)>',
		'/* <script>alert(1)</script> */ <b>bold</b>',
		'[[Page|<img src=x onerror=alert(1)>]]',
		'[[<script>]]',
		'&lt;b&gt; &amp; <!-- comment -->'
	] ) {
		const el = show( s );
		assert.equal( el.querySelectorAll( 'img, script, b' ).length, 0, s );
		assertOnlySafeNodes( el );
		assert.ok( !el.innerHTML.includes( '<img' ) && !el.innerHTML.includes( '<script' ), el.innerHTML );
	}
	assert.equal( show( '[[Page|<img src=x>]]' ).querySelector( 'a' ).textContent, '<img src=x>' );
	assert.equal( show( '&lt;b&gt;' ).textContent, '&lt;b&gt;', 'entities are not decoded either' );
} );

test( 'javascript: and other non-wiki targets never become links', () => {
	for ( const s of [
		'[[javascript:alert(1)|click]]',
		'[[JavaScript:alert(1)]]',
		'[[ javascript : alert(1) ]]',
		'[[:javascript:alert(1)]]',
		'[[http://evil.example/]]',
		'[[https://evil.example/|nice]]',
		'[[data:text/html,<script>alert(1)</script>]]',
		'[[vbscript:x]]',
		'[[w:Interwiki page]]',
		'[[mailto:a@example.org]]'
	] ) {
		const el = show( s );
		assert.equal( el.querySelectorAll( 'a' ).length, 0, s );
		assert.equal( el.textContent, s, 'shown as typed' );
	}
	// Namespaces of this wiki are no schemes.
	const ns = show( '[[Category:Cats]] [[:File:Cat.jpg|a cat]] [[Project:About]]' );
	assert.deepEqual( [ ...ns.querySelectorAll( 'a' ) ].map( ( a ) => a.textContent ), [ 'Category:Cats', 'a cat', 'Project:About' ] );
} );

test( 'a URL builder that returns something unsafe is not trusted either', () => {
	const { window } = new JSDOM( '' );
	const frag = render( parse( '[[Page]] /* S */', { page: 'P', namespaces, isTitle } ),
		{ document: window.document, page: 'P', url: () => 'javascript:alert(1)' } );
	const div = window.document.createElement( 'div' );
	div.appendChild( frag );
	assert.equal( div.querySelectorAll( 'a' ).length, 0 );
	assert.equal( div.textContent, 'Page →S' );
} );

test( 'nested and unbalanced brackets, pipes', () => {
	assert.equal( show( '[[a[[b]]c]]' ).querySelectorAll( 'a' ).length, 0, 'a target with [ is no title' );
	assert.equal( show( '[[a[[b]]c]]' ).textContent, '[[a[[b]]c]]' );
	let el = show( '[[A|b|c]]' );
	assert.equal( el.querySelector( 'a' ).textContent, 'b|c', 'the label keeps later pipes' );
	el = show( '[[A|x]y]]' );
	assert.equal( el.querySelector( 'a' ).textContent, 'x]y', 'a single ] in a label' );
	el = show( '[[A]] [[B' );
	assert.equal( el.querySelectorAll( 'a' ).length, 1 );
	assert.equal( el.textContent, 'A [[B' );
	el = show( '[[]] [[|x]] [[ ]]' );
	assert.equal( el.querySelectorAll( 'a' ).length, 0 );
	el = show( '[[A|]]' );
	assert.equal( el.querySelector( 'a' ).textContent, 'A', 'an empty label shows the target' );
	el = show( '/* a */ /* b */ text' );
	assert.equal( el.textContent, '→a: →b: text' );
	el = show( '/* unclosed section' );
	assert.equal( el.textContent, '/* unclosed section' );
	assert.equal( el.querySelectorAll( 'a' ).length, 0 );
} );

test( 'sections: [[#Section]] and /* */ link to the page\'s section; without a page, text', () => {
	let el = show( '[[#History|see history]]', 'Town' );
	assert.equal( el.querySelector( 'a' ).getAttribute( 'href' ), '/index.php?title=Town#History' );
	el = show( '[[Other#Part]]' );
	assert.equal( el.querySelector( 'a' ).getAttribute( 'href' ), '/index.php?title=Other#Part' );
	const { window } = new JSDOM( '' );
	const div = window.document.createElement( 'div' );
	div.appendChild( render( parse( '/* S */', { namespaces, isTitle } ), { document: window.document, url } ) );
	assert.equal( div.querySelectorAll( 'a' ).length, 0 );
	assert.equal( div.textContent, '→S' );
} );

test( '1,000 characters of links and brackets, quickly', () => {
	const long = '[[A|b]] '.repeat( 125 );
	assert.equal( long.length, 1000 );
	let start;
	const el = show( long );
	assert.equal( el.querySelectorAll( 'a' ).length, 125 );
	// Brackets that almost make links: no catastrophic backtracking.
	for ( const s of [ '[['.repeat( 500 ), '[[a|' + ']x'.repeat( 498 ), '/*'.repeat( 500 ), '[[' + '|'.repeat( 998 ) ] ) {
		assert.equal( s.length, 1000 );
		start = process.hrtime.bigint();
		parse( s, { page: 'P', namespaces, isTitle } );
		const ms = Number( process.hrtime.bigint() - start ) / 1e6;
		assert.ok( ms < 100, `parsed in ${ ms } ms` );
		const shown = show( s );
		assertOnlySafeNodes( shown );
		if ( !s.startsWith( '/*' ) ) {
			assert.equal( shown.textContent, s );
		}
	}
} );

test( 'right-to-left text keeps its characters and gets dir=auto in sections', () => {
	const s = '/* מבוא */ תיקון [[עמוד|קישור]] ‏and English';
	const el = show( s, 'עמוד ראשי' );
	assert.equal( el.textContent, '→מבוא: תיקון קישור ‏and English' );
	assert.equal( el.querySelector( '.autocomment' ).getAttribute( 'dir' ), 'auto' );
	assert.equal( el.querySelectorAll( 'a' )[ 1 ].getAttribute( 'href' ), '/index.php?title=' + encodeURIComponent( 'עמוד' ) );
	// Bidi controls are text, not markup.
	assert.equal( show( '\u202eevil\u202c' ).textContent, '\u202eevil\u202c' );
} );
