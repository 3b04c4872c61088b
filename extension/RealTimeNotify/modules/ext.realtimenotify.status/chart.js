/**
 * A small line chart in plain SVG: events received and delivered per sample, and connected
 * clients, over the gateway's series (GET /v1/status, about ten minutes). Built with DOM calls
 * only, from numbers: nothing of the gateway's answer is ever parsed as markup.
 */
'use strict';

var SVG = 'http://www.w3.org/2000/svg';
var WIDTH = 600;
var HEIGHT = 160;
var PAD = 28;

/**
 * @param {string} name
 * @param {Object} attrs
 * @return {SVGElement}
 */
function el( name, attrs ) {
	var node = document.createElementNS( SVG, name );
	Object.keys( attrs ).forEach( function ( key ) {
		node.setAttribute( key, String( attrs[ key ] ) );
	} );
	return node;
}

/**
 * @param {number[]} values
 * @param {number} max
 * @return {string} The points attribute of a polyline
 */
function points( values, max ) {
	var step = values.length > 1 ? ( WIDTH - 2 * PAD ) / ( values.length - 1 ) : 0;
	return values.map( function ( v, i ) {
		var x = PAD + i * step;
		var y = HEIGHT - PAD - ( max > 0 ? v / max : 0 ) * ( HEIGHT - 2 * PAD );
		return x.toFixed( 1 ) + ',' + y.toFixed( 1 );
	} ).join( ' ' );
}

/**
 * Replaces the content of `container` with a chart of `series`.
 *
 * @param {HTMLElement} container
 * @param {Object[]} series Points { t, clients, received, delivered }
 * @param {Object} labels Texts: received, delivered, clients, empty
 */
function draw( container, series, labels ) {
	var lines = [
		{ key: 'received', cls: 'rtn-chart-received' },
		{ key: 'delivered', cls: 'rtn-chart-delivered' },
		{ key: 'clients', cls: 'rtn-chart-clients' }
	];
	var svg, legend, max, top;
	while ( container.firstChild ) {
		container.removeChild( container.firstChild );
	}
	if ( series.length < 2 ) {
		container.appendChild( document.createTextNode( labels.empty ) );
		return;
	}
	svg = el( 'svg', { viewBox: '0 0 ' + WIDTH + ' ' + HEIGHT, width: WIDTH, height: HEIGHT, role: 'img' } );
	svg.appendChild( el( 'line', { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH - PAD, y2: HEIGHT - PAD, class: 'rtn-chart-axis' } ) );
	max = 1;
	series.forEach( function ( p ) {
		lines.forEach( function ( line ) {
			max = Math.max( max, Number( p[ line.key ] ) || 0 );
		} );
	} );
	lines.forEach( function ( line ) {
		var poly = el( 'polyline', {
			points: points( series.map( function ( p ) {
				return Number( p[ line.key ] ) || 0;
			} ), max ),
			class: line.cls,
			fill: 'none'
		} );
		var title = el( 'title', {} );
		title.textContent = labels[ line.key ];
		poly.appendChild( title );
		svg.appendChild( poly );
	} );
	top = el( 'text', { x: 2, y: PAD, class: 'rtn-chart-scale' } );
	top.textContent = String( max );
	svg.appendChild( top );
	container.appendChild( svg );
	legend = document.createElement( 'ul' );
	legend.className = 'rtn-chart-legend';
	lines.forEach( function ( line ) {
		var item = document.createElement( 'li' );
		item.className = line.cls;
		item.textContent = labels[ line.key ];
		legend.appendChild( item );
	} );
	container.appendChild( legend );
}

module.exports = { draw: draw, points: points };
