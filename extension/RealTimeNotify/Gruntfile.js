'use strict';

// Only for the message checker: the other linters run straight from package.json.
module.exports = function ( grunt ) {
	grunt.loadNpmTasks( 'grunt-banana-checker' );
	grunt.initConfig( {
		banana: {
			options: {
				requireLowerCase: 'initial'
			},
			RealTimeNotify: 'i18n/'
		}
	} );
	grunt.registerTask( 'default', [ 'banana' ] );
};
