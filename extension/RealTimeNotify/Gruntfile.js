'use strict';

// Only for the message checker: the other linters run straight from package.json.
module.exports = function ( grunt ) {
	grunt.loadNpmTasks( 'grunt-banana-checker' );
	grunt.initConfig( {
		banana: {
			options: {
				requireLowerCase: 'initial',
				// The languages this extension ships complete (issue 12): every message.
				requireCompleteTranslationLanguages: [ 'de', 'es', 'fr', 'nl', 'pl' ]
			},
			RealTimeNotify: 'i18n/'
		}
	} );
	grunt.registerTask( 'default', [ 'banana' ] );
};
